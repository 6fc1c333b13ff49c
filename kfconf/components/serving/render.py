"""Serving → KServe InferenceService (and a namespaced ServingRuntime for `customRuntime`).

The predictor is always the `model` implementation (exactly one implementation: webhook rule; no container
`name` inside it; storageUri, never storageUris). Output differs per stack only where KServe differs:
- the deployment-mode annotation value: `Standard`/`Knative` (KServe ≥0.17) or `RawDeployment`/`Serverless`
  (older) — `components.kserve.deploymentModeValues`;
- a canary: KServe 0.20 in Standard mode has `spec.canary[]` (a named predictor with fixed replicas and its
  own trafficPercent beside the stable one); otherwise (KServe <0.20, or Knative mode) the predictor carries
  the candidate model and `canaryTrafficPercent` splits traffic between Knative revisions.
A model given as `registry/NAME` is served as `model-registry://NAME/VERSION` (the Model Registry storage
initializer); `training/NAME` by its output location; a URI as given. A canary without `model` serves the
newest registered version (`model-registry://NAME`).
Two upstream quirks: the 0.20 CRD requires a container `name` in a canary predictor's model (the webhook
forbids one in the stable predictor's), and the webhook checks a Knative component's scaleMetric against the
KPA metrics unless the ISVC carries the Knative HPA class annotation, which cpu/memory scaling then gets.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kfconf.build.context import RenderContext
from kfconf.components.k8s import Explain, env_list, pod_placement, resources
from kfconf.components.registry.uris import Location, latest_uri, storage_uri
from kfconf.components.serving.runtimes import auto_runtime
from kfconf.core.resource import Resource
from kfconf.core.source import PathT

DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
KNATIVE_CLASS = "autoscaling.knative.dev/class"
KNATIVE_HPA = "hpa.autoscaling.knative.dev"
CANARY_NAME = "canary"
CONTAINER = "kserve-container"
ART_ATTACK = "SquareAttack"
"""The one ART attack KServe's ART explainer implements (ARTExplainerType)."""


@dataclass(frozen=True)
class ModelFormat:
    name: str
    version: str | None
    name_path: PathT
    version_path: PathT | None


def settings(ctx: RenderContext) -> dict[str, Any]:
    return ctx.stack.component("kserve")


def model_format(ctx: RenderContext, s: Any) -> ModelFormat:
    """The entry's `format:` (a name) wins; else the registered model's format, with its version."""
    base = ctx.path(s)
    if s.format:
        return ModelFormat(s.format, None, (*base, "format"), None)
    reg = ctx.project.entry(s.model) if s.model.startswith("registry/") else None
    if reg is None:
        raise KeyError(f"{s.name}: no model format")  # checks.py reports this on the spec line first
    rbase = ctx.project.entry_path("registry", reg.name)
    if isinstance(reg.format, str):
        return ModelFormat(reg.format, None, (*rbase, "format"), None)
    return ModelFormat(reg.format.name, reg.format.version, (*rbase, "format", "name"),
                       (*rbase, "format", "version") if reg.format.version else None)


def deployment_mode(ctx: RenderContext, s: Any) -> str:
    return str(s.deployment_mode or settings(ctx).get("deploymentMode", "Standard"))


def canary_list(ctx: RenderContext, s: Any) -> bool:
    """KServe 0.20's spec.canary[] (Standard mode only); otherwise canaryTrafficPercent."""
    return settings(ctx).get("canary", "percent") == "list" and deployment_mode(ctx, s) == "Standard"


def runtime_name(s: Any) -> str:
    return f"{s.name}-runtime"[:63]


def version_note(ctx: RenderContext, ref: str) -> str:
    """For --explain: a `registry/NAME` URI also takes the entry's version."""
    if not ref.startswith("registry/"):
        return ""
    reg = ctx.project.entry_path("registry", ref.partition("/")[2])
    return f" + registry version ({ctx.origin((*reg, 'version'))})"


def candidate(ctx: RenderContext, s: Any) -> tuple[Location, PathT, str]:
    """The canary's model, the spec path it came from and an explain note: `canary.model`, else the
    newest registered version of the stable model (or the same URI)."""
    base = ctx.path(s)
    if s.canary.model:
        return (storage_uri(ctx.project, ctx.stack, s.canary.model), (*base, "canary", "model"),
                version_note(ctx, s.canary.model))
    if s.model.startswith("registry/"):
        return Location(latest_uri(ctx.project, s.model), None), (*base, "model"), " (the newest version)"
    return storage_uri(ctx.project, ctx.stack, s.model), (*base, "model"), ""


def model_spec(ctx: RenderContext, s: Any, fmt: ModelFormat, uri: Location, ex: Explain, at: str,
               uri_from: PathT, uri_note: str = "") -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": {"name": fmt.name}}
    ex.at(f"{at}.modelFormat.name", fmt.name_path)
    if fmt.version:
        model["modelFormat"]["version"] = fmt.version
        if fmt.version_path:
            ex.at(f"{at}.modelFormat.version", fmt.version_path)
    if s.custom_runtime is not None:
        model["runtime"] = runtime_name(s)
        ex.spec(f"{at}.runtime", "customRuntime")
    elif s.runtime:
        model["runtime"] = s.runtime
        ex.spec(f"{at}.runtime", "runtime")
    if s.protocol:
        model["protocolVersion"] = s.protocol
        ex.spec(f"{at}.protocolVersion", "protocol")
    model["storageUri"] = uri.uri
    ex.at(f"{at}.storageUri", uri.spec_path or uri_from)
    ex.out[f"{at}.storageUri"] += uri_note
    res = resources(s.resources)
    if res:
        model["resources"] = res
        ex.spec(f"{at}.resources", "resources")
    if s.env:
        model["env"] = env_list(s.env)
        ex.spec(f"{at}.env", "env")
    return model


def predictor(ctx: RenderContext, s: Any, fmt: ModelFormat, ex: Explain) -> dict[str, Any]:
    base = ex.base
    pred: dict[str, Any] = {}
    if s.canary is not None and not canary_list(ctx, s):
        # Knative revisions: the spec is the candidate; the previous revision keeps the rest
        cand, from_path, note = candidate(ctx, s)
        pred["model"] = model_spec(ctx, s, fmt, cand, ex, "spec.predictor.model", from_path, note)
        pred["canaryTrafficPercent"] = s.canary.percent
        ex.spec("spec.predictor.canaryTrafficPercent", "canary", "percent")
        ex.out["spec.predictor.canaryTrafficPercent"] += " + " + ctx.stack_origin("components.kserve.canary")
    else:
        uri = storage_uri(ctx.project, ctx.stack, s.model)
        pred["model"] = model_spec(ctx, s, fmt, uri, ex, "spec.predictor.model", (*base, "model"),
                                   version_note(ctx, s.model))
    pred["minReplicas"] = s.replicas.min
    ex.spec("spec.predictor.minReplicas", "replicas", "min")
    pred["maxReplicas"] = s.replicas.max
    ex.spec("spec.predictor.maxReplicas", "replicas", "max")
    if s.autoscaling is not None:
        pred["scaleMetric"] = s.autoscaling.metric
        pred["scaleTarget"] = s.autoscaling.target
        ex.spec("spec.predictor.scaleMetric", "autoscaling", "metric")
        ex.spec("spec.predictor.scaleTarget", "autoscaling", "target")
    place = pod_placement(s.placement)
    pred.update(place)
    for key in place:
        ex.spec(f"spec.predictor.{key}", "placement")
    return pred


def canary_predictors(ctx: RenderContext, s: Any, fmt: ModelFormat, stable: dict[str, Any],
                      ex: Explain) -> list[dict[str, Any]]:
    """KServe 0.20: one named canary predictor with fixed replicas (no autoscaling fields allowed) and at
    most the stable predictor's minimum (webhook rules)."""
    cand, from_path, note = candidate(ctx, s)
    at = "spec.canary[0].predictor"
    # unlike the stable predictor's (where the webhook forbids it), the canary model's container `name` is
    # required by the 0.20 CRD schema: it gets the name KServe gives the model container anyway
    model = {"name": CONTAINER, **model_spec(ctx, s, fmt, cand, ex, f"{at}.model", from_path, note)}
    ex.fixed(f"{at}.model.name", "the CRD requires a container name in a canary model; KServe's own")
    pred: dict[str, Any] = {"name": CANARY_NAME, "model": model, "minReplicas": min(1, stable["minReplicas"])}
    ex.fixed(f"{at}.name", "a canary predictor needs a name other than the stable one's")
    ex.fixed(f"{at}.minReplicas", "canary predictors run fixed replicas, at most the stable minimum")
    for key in ("nodeSelector", "tolerations", "priorityClassName"):
        if key in stable:
            pred[key] = copy.deepcopy(stable[key])
            ex.spec(f"{at}.{key}", "placement")
    ex.spec("spec.canary[0].trafficPercent", "canary", "percent")
    return [{"trafficPercent": s.canary.percent, "predictor": pred}]


def transformer(ctx: RenderContext, s: Any, ex: Explain) -> dict[str, Any]:
    t = s.transformer
    container: dict[str, Any] = {"name": CONTAINER, "image": ctx.image(t.image)}
    ex.spec("spec.transformer.containers[0].image", "transformer", "image")
    if t.command:
        container["command"] = list(t.command)
    if t.args:
        container["args"] = list(t.args)
    if t.env:
        container["env"] = env_list(t.env)
    res = resources(t.resources)
    if res:
        container["resources"] = res
    for key in ("command", "args", "env", "resources"):
        if key in container:
            ex.spec(f"spec.transformer.containers[0].{key}", "transformer", key)
    out: dict[str, Any] = {"containers": [container]}
    out.update(pod_placement(s.placement))
    return out


def explainer(ctx: RenderContext, s: Any, ex: Explain) -> dict[str, Any]:
    e = s.explainer
    art: dict[str, Any] = {"type": ART_ATTACK}
    ex.spec("spec.explainer.art.type", "explainer", "type")
    if e.config:
        art["config"] = dict(e.config)
        ex.spec("spec.explainer.art.config", "explainer", "config")
    if e.image:
        art["image"] = ctx.image(e.image)
        ex.spec("spec.explainer.art.image", "explainer", "image")
    out: dict[str, Any] = {"art": art}
    out.update(pod_placement(s.placement))
    return out


def inference_service(ctx: RenderContext, s: Any) -> Resource:
    st = settings(ctx)
    ex = Explain(ctx, ctx.path(s))
    fmt = model_format(ctx, s)
    mode = deployment_mode(ctx, s)
    value = dict(st.get("deploymentModeValues") or {}).get(mode, mode)
    annotations = {DEPLOYMENT_MODE: value}
    if mode == "Knative" and s.autoscaling is not None and s.autoscaling.metric in ("cpu", "memory"):
        # the webhook checks Knative components against KPA metrics (concurrency, rps) unless the HPA class
        annotations[KNATIVE_CLASS] = KNATIVE_HPA
        ex.spec(f"metadata.annotations.{KNATIVE_CLASS}", "autoscaling", "metric")
    if s.deployment_mode:
        ex.spec(f"metadata.annotations.{DEPLOYMENT_MODE}", "deploymentMode")
    else:
        ex.stack(f"metadata.annotations.{DEPLOYMENT_MODE}", "components.kserve.deploymentMode")
    spec: dict[str, Any] = {"predictor": predictor(ctx, s, fmt, ex)}
    if s.canary is not None and canary_list(ctx, s):
        spec["canary"] = canary_predictors(ctx, s, fmt, spec["predictor"], ex)
    if s.transformer is not None:
        spec["transformer"] = transformer(ctx, s, ex)
    if s.explainer is not None:
        spec["explainer"] = explainer(ctx, s, ex)
    body = {"apiVersion": st.get("apiVersion", "serving.kserve.io/v1beta1"), "kind": "InferenceService",
            "metadata": {"name": s.name, "namespace": ctx.namespace, "annotations": annotations},
            "spec": spec}
    ex.spec("metadata.name", "name")
    ex.stack("apiVersion", "components.kserve.apiVersion")
    if s.custom_runtime is None and not s.runtime:
        chosen = selected_runtime(ctx, s)
        if chosen is not None:  # KServe picks it at admission; say which one the stack says it will be
            ex.out["spec.predictor.model.modelFormat.name"] += \
                f" → KServe auto-selects {ctx.stack_origin(f'runtimes.serving.{chosen}')}"
    res = ctx.resource(body, s)
    res.explain.update(ex.out)
    return res


def serving_runtime(ctx: RenderContext, s: Any) -> Resource:
    """A namespaced ServingRuntime for a model server the stack does not ship. Its formats are not
    auto-selected, so only this entry's InferenceService (which names it) uses it."""
    from kfconf.components.serving.runtimes import parse_format

    rt = s.custom_runtime
    ex = Explain(ctx, (*ctx.path(s), "customRuntime"))
    formats = []
    for f in rt.formats:
        name, version = parse_format(f)
        formats.append({"name": name, **({"version": version} if version else {}), "autoSelect": False})
    container: dict[str, Any] = {"name": CONTAINER, "image": ctx.image(rt.image)}
    if rt.args:
        container["args"] = list(rt.args)
        ex.spec("spec.containers[0].args", "args")
    ex.spec("spec.containers[0].image", "image")
    ex.spec("spec.supportedModelFormats", "formats")
    ex.spec("spec.protocolVersions", "protocols")
    body = {"apiVersion": settings(ctx).get("runtimeApiVersion", "serving.kserve.io/v1alpha1"),
            "kind": "ServingRuntime",
            "metadata": {"name": runtime_name(s), "namespace": ctx.namespace},
            "spec": {"supportedModelFormats": formats, "protocolVersions": list(rt.protocols),
                     "containers": [container]}}
    ex.stack("apiVersion", "components.kserve.runtimeApiVersion")
    res = ctx.resource(body, s, path=(*ctx.path(s), "customRuntime"))
    res.explain.update(ex.out)
    return res


def selected_runtime(ctx: RenderContext, s: Any) -> str | None:
    """The runtime the InferenceService will run on: named, custom, or KServe's auto-selection."""
    if s.custom_runtime is not None:
        return runtime_name(s)
    if s.runtime:
        return str(s.runtime)
    fmt = model_format(ctx, s)
    return auto_runtime(ctx.stack, fmt.name, fmt.version, s.protocol)


def render(ctx: RenderContext) -> Iterator[Resource]:
    for s in ctx.entries():
        if s.custom_runtime is not None:
            yield serving_runtime(ctx, s)
        yield inference_service(ctx, s)
