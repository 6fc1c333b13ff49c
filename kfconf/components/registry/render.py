"""Registry → a Kubernetes Job per registered model version that calls the Model Registry REST API.

The Model Registry has no CRD: its entities live behind REST (`/api/model_registry/v1alpha3`). Each entry
becomes a Job running kfconf's stdlib-only script (kfconf/data/registry/register.py, shipped in one
ConfigMap per namespace) that finds or creates the RegisteredModel, the ModelVersion and its
ModelArtifact and converges them to the spec; a re-run changes nothing.

A Job's pod template is immutable, so the Job's name ends in a hash of its spec: a changed registration
is a new Job (the old one is pruned), an unchanged one keeps its name and does not run again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from kfconf.build.context import RenderContext
from kfconf.components.k8s import Explain, dns_label
from kfconf.components.registry.uris import artifact_location
from kfconf.core.resource import Resource

SCRIPT_CONFIGMAP = "kfconf-model-registration"
SCRIPT_DIR = "/opt/kfconf"
SCRIPT = "register.py"
MODEL_LABEL = "kfconf.dev/registered-model"
VERSION_LABEL = "kfconf.dev/model-version"
ENV_PREFIX = "spec.template.spec.containers[0].env"


def script_text() -> str:
    return (resources.files("kfconf") / "data" / "registry" / SCRIPT).read_text(encoding="utf-8")


def settings(ctx: RenderContext) -> dict[str, Any]:
    return ctx.stack.component("modelRegistry")


def api_url(ctx: RenderContext) -> str:
    st = settings(ctx)
    return str(st.get("url", "http://model-registry-service.kubeflow.svc.cluster.local:8080")).rstrip("/") + \
        str(st.get("apiPath", "/api/model_registry/v1alpha3"))


def metadata_value(value: str | int | float | bool) -> dict[str, Any]:
    """A custom property as the REST API types it (MetadataValue, discriminated by metadataType)."""
    if isinstance(value, bool):
        return {"metadataType": "MetadataBoolValue", "bool_value": value}
    if isinstance(value, int):
        return {"metadataType": "MetadataIntValue", "int_value": str(value)}  # int64 travels as a string
    if isinstance(value, float):
        return {"metadataType": "MetadataDoubleValue", "double_value": value}
    return {"metadataType": "MetadataStringValue", "string_value": value}


def registration(ctx: RenderContext, entry: Any, ex: Explain) -> dict[str, Any]:
    """The desired RegisteredModel, ModelVersion and ModelArtifact, in the REST API's field names."""
    from kfconf.components.profile.render import owner

    who, who_path = owner(ctx)
    where = f"{ENV_PREFIX}.KFCONF_REGISTRATION"
    model: dict[str, Any] = {"name": entry.name,
                             "customProperties": {"kfconf.dev/project": metadata_value(ctx.project.name)}}
    ex.spec(f"{where}.registeredModel.name", "name")
    version: dict[str, Any] = {"name": entry.version,
                               "customProperties": {"kfconf.dev/from": metadata_value(entry.from_)}}
    ex.spec(f"{where}.modelVersion.name", "version")
    if entry.description:
        model["description"] = version["description"] = entry.description
        ex.spec(f"{where}.modelVersion.description", "description")
    if who:
        model["owner"] = who
        ex.at(f"{where}.registeredModel.owner", who_path)
    if entry.author or who:
        version["author"] = entry.author or who
        if entry.author:
            ex.spec(f"{where}.modelVersion.author", "author")
        else:
            ex.at(f"{where}.modelVersion.author", who_path)
    for key, value in entry.metadata.items():
        version["customProperties"][key] = metadata_value(value)
    if entry.metadata:
        ex.spec(f"{where}.modelVersion.customProperties", "metadata")

    loc = artifact_location(ctx.project, ctx.stack, entry.from_)
    fmt_name, fmt_version = (entry.format, None) if isinstance(entry.format, str) else \
        (entry.format.name, entry.format.version)
    artifact: dict[str, Any] = {"name": entry.name, "uri": loc.uri, "modelFormatName": fmt_name}
    if fmt_version:
        artifact["modelFormatVersion"] = fmt_version
    if loc.spec_path is not None:
        ex.at(f"{where}.modelArtifact.uri", loc.spec_path)
    elif entry.from_.startswith(("training/", "tuning/")):
        ex.out[f"{where}.modelArtifact.uri"] = f"{ctx.origin((*ctx.path(entry), 'from'))} + " + \
            ctx.stack_origin("components.modelRegistry.artifactRoot")
    else:
        ex.spec(f"{where}.modelArtifact.uri", "from")
    ex.spec(f"{where}.modelArtifact.modelFormatName", "format")
    return {"registeredModel": model, "modelVersion": version, "modelArtifact": artifact}


def job(ctx: RenderContext, entry: Any) -> Resource:
    ex = Explain(ctx, ctx.path(entry))
    st = settings(ctx)
    payload = registration(ctx, entry, ex)
    env = [{"name": "MODEL_REGISTRY_URL", "value": api_url(ctx)},
           {"name": "KFCONF_REGISTRATION",  # indented: a review diff shows the field that changed
            "value": json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"},
           {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}]
    ex.stack(f"{ENV_PREFIX}.MODEL_REGISTRY_URL", "components.modelRegistry.url + apiPath")
    if st.get("stopIstioSidecar", False):
        env.append({"name": "KFCONF_STOP_ISTIO_SIDECAR", "value": "true"})
        ex.stack(f"{ENV_PREFIX}.KFCONF_STOP_ISTIO_SIDECAR", "components.modelRegistry.stopIstioSidecar")
    volumes = [{"name": "script", "configMap": {"name": SCRIPT_CONFIGMAP}}]
    mounts = [{"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True}]
    if st.get("auth") == "serviceAccountToken":
        # a projected token whose audience the registry's kube-rbac-proxy accepts
        env.append({"name": "MODEL_REGISTRY_TOKEN_FILE", "value": "/var/run/secrets/kfconf/token"})
        volumes.append({"name": "token", "projected": {"sources": [{"serviceAccountToken": {
            "path": "token", "expirationSeconds": 3600}}]}})
        mounts.append({"name": "token", "mountPath": "/var/run/secrets/kfconf", "readOnly": True})
        ex.stack(f"{ENV_PREFIX}.MODEL_REGISTRY_TOKEN_FILE", "components.modelRegistry.auth")
    container = {
        "name": "register",
        "image": ctx.image(None, "registrar"),
        "command": ["python", f"{SCRIPT_DIR}/{SCRIPT}"],
        "env": env,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    ex.stack("spec.template.spec.containers[0].image", "images.registrar")
    labels = {MODEL_LABEL: dns_label(entry.name), VERSION_LABEL: dns_label(entry.version)}
    spec = {
        "backoffLimit": int(st.get("backoffLimit", 4)),
        "activeDeadlineSeconds": int(st.get("activeDeadlineSeconds", 900)),
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    ex.stack("spec.backoffLimit", "components.modelRegistry.backoffLimit")
    ex.stack("spec.activeDeadlineSeconds", "components.modelRegistry.activeDeadlineSeconds")
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    name = f"mr-{dns_label(f'{entry.name}-{entry.version}', 50)}-{digest}"
    ex.fixed("metadata.name", "mr-<model>-<version>-<hash of the Job spec>: a Job's template is immutable")
    body = {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ctx.namespace, "labels": dict(labels)}, "spec": spec}
    res = ctx.resource(body, entry)
    res.explain.update(ex.out)
    return res


def render(ctx: RenderContext) -> Iterator[Resource]:
    entries = ctx.entries()
    if not entries:
        return
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": SCRIPT_CONFIGMAP, "namespace": ctx.namespace},
          "data": {SCRIPT: script_text()}}
    res = ctx.resource(cm, path=("spec", "registry"))
    res.explain["data.register.py"] = "kfconf: kfconf/data/registry/register.py"
    yield res
    for entry in entries:
        yield job(ctx, entry)
