#!/usr/bin/env python3
"""Generate kfconf/data/schemas: the strict JSON Schemas the output check uses, per component release.

Inputs (read only here, never at run time; kubernetes-validate and kubeflow-training are [dev] extras):
- the upstream CRDs in ../shared/reference/crds (byte-identical copies, see SOURCES.md there);
- Katib's OpenAPI (openapi/katib-v1beta1.swagger.json), since its CRDs are schemaless;
- Kubernetes' own schemas for core kinds, from the `kubernetes-validate` package (its `-strict` set,
  generated from the Kubernetes OpenAPI), for the Kubernetes version in K8S below;
- the Training Operator v1's PyTorchJob (legacy stack) from the models of its `kubeflow-training` SDK.

Output: `<group>/<release>/<Kind>.json` (core kinds under `core/`), plus `index.json`, which says for
each kind which file serves each component release a stack may name, and which releases are derived
or stand in for another (with the reason). Run: `python tools/gen_schemas.py [--check]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kfconf.build.schemas_convert import (  # noqa: E402
    OBJECT_META,
    Lifted,
    convert_openapi,
    crd_kind_file,
    drop_null,
    k8s_closure,
    share_subtrees,
)

OUT = ROOT / "kfconf" / "data" / "schemas"
K8S = "v1.33.0"

# Core kinds a renderer may emit: (group, version, kind). Their fields come from Kubernetes' schemas.
CORE_KINDS: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "ConfigMap"), ("", "v1", "Secret"), ("", "v1", "ServiceAccount"), ("", "v1", "Namespace"),
    ("", "v1", "Service"), ("", "v1", "PersistentVolumeClaim"), ("", "v1", "ResourceQuota"),
    ("", "v1", "LimitRange"), ("", "v1", "Pod"),
    ("batch", "v1", "Job"), ("batch", "v1", "CronJob"),
    ("apps", "v1", "Deployment"), ("apps", "v1", "StatefulSet"),
    ("rbac.authorization.k8s.io", "v1", "Role"), ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"), ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("networking.k8s.io", "v1", "NetworkPolicy"), ("policy", "v1", "PodDisruptionBudget"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
)


@dataclass
class Release:
    component: str
    """The key of the stack's `components` section that names this release's version."""
    release: str
    crds: list[str]
    source: str
    remove: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    """Kind → property paths removed to derive this release from a newer one's CRDs."""
    patches: dict[str, str] = field(default_factory=dict)
    """Kind → JSON6902 patch file that upstream's kustomize applies to the CRD."""
    note: str = ""


RELEASES: tuple[Release, ...] = (
    Release("trainer", "v2.3.0", ["trainer.kubeflow.org/trainer.kubeflow.org_trainjobs.yaml",
                                  "trainer.kubeflow.org/trainer.kubeflow.org_trainingruntimes.yaml",
                                  "trainer.kubeflow.org/trainer.kubeflow.org_clustertrainingruntimes.yaml"],
            "kubeflow/trainer v2.3.0 manifests/base/crds"),
    Release("trainer", "v2.1.0", ["trainer.kubeflow.org/v2.1.0/trainer.kubeflow.org_trainjobs.yaml",
                                  "trainer.kubeflow.org/v2.1.0/trainer.kubeflow.org_trainingruntimes.yaml",
                                  "trainer.kubeflow.org/v2.1.0/trainer.kubeflow.org_clustertrainingruntimes.yaml"],
            "kubeflow/trainer v2.1.0 manifests/base/crds"),
    Release("kserve", "v0.20.0", [f"serving.kserve.io/serving.kserve.io_{n}.yaml" for n in (
        "inferenceservices", "servingruntimes", "clusterservingruntimes", "inferencegraphs", "trainedmodels",
        "clusterstoragecontainers")], "kserve/kserve v0.20.0 config/crd/full"),
    Release("kserve", "v0.16.0", ["serving.kserve.io/serving.kserve.io_inferenceservices.yaml"],
            "kserve/kserve v0.20.0 config/crd/full, without the fields added in 0.17–0.20",
            remove={"InferenceService": [("spec", "canary"), ("spec", "predictor", "name"),
                                         ("spec", "predictor", "storageContainerName"),
                                         ("spec", "predictor", "hostnameOverride"),
                                         ("spec", "predictor", "model", "confidential"),
                                         ("spec", "predictor", "model", "restartPolicyRules")]},
            note="derived: the 0.16 CRD is not in the reference set; the fields 0.17–0.20 added are removed "
                 "(shared/notes/kubeflow-apis.md §0); other KServe kinds use the v0.20.0 schemas"),
    Release("spark", "v2.5.2", ["sparkoperator.k8s.io/sparkoperator.k8s.io_sparkapplications.yaml",
                                "sparkoperator.k8s.io/sparkoperator.k8s.io_scheduledsparkapplications.yaml"],
            "kubeflow/spark-operator v2.5.2 config/crd/bases"),
    Release("pipelines", "2.17.0", ["pipelines.kubeflow.org/pipelines.kubeflow.org_pipelines.yaml",
                                    "pipelines.kubeflow.org/pipelines.kubeflow.org_pipelineversions.yaml",
                                    "kubeflow.org/kfp-scheduled-workflow-crd.yaml"],
            "kubeflow/pipelines 2.17.0 manifests/kustomize"),
    Release("pipelines", "2.16.0", ["pipelines.kubeflow.org/pipelines.kubeflow.org_pipelines.yaml",
                                    "pipelines.kubeflow.org/pipelines.kubeflow.org_pipelineversions.yaml"],
            "kubeflow/pipelines 2.17.0 manifests/kustomize, without the fields added in 2.17",
            remove={"Pipeline": [("spec", "tags")],
                    "PipelineVersion": [("spec", "versionName"), ("spec", "tags")]},
            note="derived: 2.17 added PipelineVersion.spec.versionName/tags and Pipeline.spec.tags "
                 "(shared/notes/kubeflow-apis.md §0); ScheduledWorkflow uses the 2.17.0 schema"),
    Release("profiles", "v2.0.0",
            ["kubeflow.org/kubeflow.org_profiles.yaml", "kubeflow.org/kubeflow.org_poddefaults.yaml"],
            "kubeflow/dashboard v2.0.0"),
    Release("notebooks", "v1.11.0", ["kubeflow.org/kubeflow.org_notebooks.yaml"],
            "kubeflow/notebooks v1.11.0 (+ config/crd/patches/validation_patches.yaml)",
            patches={"Notebook": "kubeflow.org/kubeflow.org_notebooks.validation_patches.yaml"}),
)

# A stack may name a release whose CRDs are not in the reference set: it is checked with another
# release's schemas, and `kfconf schemas ls` says so.
ALIASES: dict[str, dict[str, tuple[str, str]]] = {
    "kserve": {"v0.15.0": ("v0.16.0", "no 0.15 CRD in the reference set; checked with the 0.16 derivation")},
    "spark": {"v2.5.0": ("v2.5.2", "2.5.0 → 2.5.2 changed no CRD (shared/notes/kubeflow-apis.md §0)")},
    "pipelines": {"2.5.0": ("2.16.0", "no 2.5 CRDs in the reference set; checked with 2.16's")},
    "katib": {"v0.18.0": ("v0.19.0", "no 0.18 API in the reference set; checked with 0.19's")},
    "trainer": {"v1.9.2": ("v1.9.4", "Training Operator v1: no 1.9.2 schema; the PyTorchJob of the "
                                    "kubeflow-training 1.9.4 SDK models (a patch release) stands in")},
    "profiles": {"v1.10.0": ("v2.0.0", "kubeflow/kubeflow v1.10.0 has the same Profile and PodDefault fields "
                                      "(shared/reference/SOURCES.md)")},
    "notebooks": {"v1.10.0": ("v1.11.0", "kubeflow/kubeflow v1.10.0 has the same Notebook fields "
                                        "(shared/reference/SOURCES.md)")},
}

KATIB = Release("katib", "v0.19.0", [], "kubeflow/katib v0.19.0 pkg/apis/v1beta1/swagger.json")
KATIB_KINDS = {"Experiment": "v1beta1.Experiment"}
# Kubernetes types the Katib swagger names without defining them.
KATIB_K8S_REFS = {
    "v1.Container": "io.k8s.api.core.v1.Container",
    "v1.HTTPGetAction": "io.k8s.api.core.v1.HTTPGetAction",
    "v1.ObjectMeta": OBJECT_META,
    "v1.ListMeta": "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
    "v1.Time": "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
}
UNSTRUCTURED = "v1.unstructured.Unstructured"


def k8s_dir() -> Path:
    import kubernetes_validate

    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"{K8S}-local-strict"


def k8s_defs() -> dict[str, Any]:
    return json.loads((k8s_dir() / "_definitions.json").read_text())["$defs"]


def core_file(group: str, version: str, kind: str, defs: dict[str, Any]) -> dict[str, Any]:
    short = group.split(".")[0]
    name = f"{kind.lower()}-{short}-{version}.json" if group else f"{kind.lower()}-{version}.json"
    raw = json.loads((k8s_dir() / name).read_text())
    prefix = "/api/_definitions.json#/$defs/"
    root = drop_null(raw)
    roots = {r[len(prefix):] for r in _all_refs(root) if r.startswith(prefix)}
    closure = k8s_closure(defs, roots, "#/$defs/")
    root = _relocal(root, prefix)
    root["required"] = sorted({*root.get("required", []), "apiVersion", "kind", "metadata"})
    return {"kind": kind, "group": group, "scope": "Cluster" if kind.startswith("Cluster") or kind == "Namespace"
            else "Namespaced", "release": K8S, "source": f"Kubernetes {K8S} OpenAPI (kubernetes-validate -strict)",
            "versions": {version: {"schema": root, "rules": [], "listMaps": [], "transitionRules": 0}},
            "definitions": closure}


def _all_refs(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_all_refs(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_all_refs(v))
    return out


def _relocal(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {k: ("#/definitions/" + v[len(prefix):] if k == "$ref" and isinstance(v, str) and v.startswith(prefix)
                    else _relocal(v, prefix)) for k, v in node.items()}
    if isinstance(node, list):
        return [_relocal(v, prefix) for v in node]
    return node


def katib_files(reference: Path, defs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    swagger = json.loads((reference / "openapi" / "katib-v1beta1.swagger.json").read_text())
    sdefs: dict[str, Any] = swagger["definitions"]

    def ref(r: str) -> str:
        name = r.removeprefix("#/definitions/")
        if name in KATIB_K8S_REFS:
            return "#/definitions/" + KATIB_K8S_REFS[name]
        return "#/definitions/katib." + name.lstrip(".")

    out: dict[str, dict[str, Any]] = {}
    for kind, root_name in KATIB_KINDS.items():
        lifted = Lifted()
        todo, seen = [root_name], set()
        converted: dict[str, Any] = {}
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            node = sdefs[name]
            if name.endswith(("Status", "Condition")):  # status is never part of a manifest
                continue
            converted["katib." + name.lstrip(".")] = convert_openapi(node, lifted, [], ref=ref)
            for r in _all_refs(node):
                n = r.removeprefix("#/definitions/")
                if n not in KATIB_K8S_REFS and n != UNSTRUCTURED:
                    todo.append(n)
        root = converted.pop("katib." + root_name)
        root["properties"].pop("status", None)
        root["properties"]["metadata"] = {"$ref": f"#/definitions/{OBJECT_META}"}
        root["required"] = ["apiVersion", "kind", "metadata", "spec"]
        # trialSpec is any Kubernetes object; the output check validates it against its own kind's schema
        converted["katib." + UNSTRUCTURED] = {"type": "object"}
        k8s = k8s_closure(defs, sorted(set(KATIB_K8S_REFS.values())), "#/$defs/")
        roots, shared = share_subtrees({"v1beta1": root}, {**k8s, **converted})
        out[kind] = {"kind": kind, "group": "kubeflow.org", "scope": "Namespaced", "release": KATIB.release,
                     "source": KATIB.source,
                     "versions": {"v1beta1": {"schema": roots["v1beta1"], "rules": [], "listMaps": lifted.list_maps,
                                             "transitionRules": 0}},
                     "definitions": shared}
    return out


# The Training Operator v1 (the legacy stack's training target) is not in the reference set; its
# PyTorchJob schema comes from the models of its official SDK (kubeflow-training, generated by
# openapi-generator from the operator's OpenAPI): field names and types, required fields (the setters
# that refuse None), objects closed; the Kubernetes types it names come from Kubernetes' schema.
TRAINING_OPERATOR = Release("trainer", "v1.9.4", [],
                            "kubeflow-training 1.9.4 SDK models (Training Operator OpenAPI v1.9.4)")
# The operator's CRD is what the API server enforces; where controller-gen and the SDK's generator
# disagree about a required field, the CRD wins: `runPolicy` carries `+kubebuilder:validation:Optional`
# in the operator's Go types (optional in the CRD), which openapi-gen, and so the SDK, ignores.
SDK_OPTIONAL = {("KubeflowOrgV1PyTorchJobSpec", "runPolicy")}
SDK_SCALARS = {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
               "bool": {"type": "boolean"}, "datetime": {"type": "string"}, "date": {"type": "string"}, "object": {}}


def training_operator_file(defs: dict[str, Any]) -> dict[str, Any]:
    import inspect
    import re

    from kubeflow.training import models

    k8s_names = {k.rsplit(".", 1)[1]: k for k in sorted(defs, key=lambda k: (not k.startswith("io.k8s.api.core"), k))
                 if k.startswith("io.k8s.")}
    converted: dict[str, Any] = {}
    k8s_roots: set[str] = set()

    def typ(t: str) -> dict[str, Any]:
        if t in SDK_SCALARS:
            return dict(SDK_SCALARS[t])
        if m := re.fullmatch(r"list\[(.+)\]", t):
            return {"type": "array", "items": typ(m.group(1))}
        if m := re.fullmatch(r"dict\(str, (.+)\)", t):
            return {"type": "object", "additionalProperties": typ(m.group(1))}
        if t == "Quantity":
            k8s_roots.add("io.k8s.apimachinery.pkg.api.resource.Quantity")
            return {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}
        if t.startswith("KubeflowOrg"):
            model(t)
            return {"$ref": f"#/definitions/kubeflow.training.{t}"}
        name = re.sub(r"^(V\d+(alpha\d+|beta\d+)?|K8sIoApi[A-Z][a-z]+V\d+)", "", t)
        k8s_roots.add(k8s_names[name])
        return {"$ref": f"#/definitions/{k8s_names[name]}"}

    def model(name: str) -> None:
        if name in converted:
            return
        converted[name] = {}
        cls = getattr(models, name)
        src = inspect.getsource(cls)
        required = {a for a in re.findall(r"Invalid value for `(\w+)`, must not be `None`", src)
                    if (name, cls.attribute_map[a]) not in SDK_OPTIONAL}
        props = {cls.attribute_map[a]: typ(t) for a, t in cls.openapi_types.items() if a != "status"}
        converted[name] = {"type": "object", "properties": props, "additionalProperties": False,
                           **({"required": sorted(cls.attribute_map[a] for a in required if a != "status")}
                              if required else {})}

    model("KubeflowOrgV1PyTorchJob")
    root = converted.pop("KubeflowOrgV1PyTorchJob")
    root["properties"]["metadata"] = {"$ref": f"#/definitions/{OBJECT_META}"}
    root["required"] = ["apiVersion", "kind", "metadata", "spec"]
    k8s = k8s_closure(defs, sorted(k8s_roots | {OBJECT_META}), "#/$defs/")
    sdk = {f"kubeflow.training.{k}": v for k, v in converted.items()}
    return {"kind": "PyTorchJob", "group": "kubeflow.org", "scope": "Namespaced", "release": TRAINING_OPERATOR.release,
            "source": TRAINING_OPERATOR.source,
            "versions": {"v1": {"schema": root, "rules": [], "listMaps": [], "transitionRules": 0}},
            "definitions": dict(sorted({**k8s, **sdk}.items()))}


def _group_dir(group: str) -> str:
    return group or "core"


def generate(reference: Path) -> dict[str, str]:
    """Relative path → file text of the whole schema set."""
    defs = k8s_defs()
    meta = k8s_closure(defs, [OBJECT_META], "#/$defs/")
    files: dict[str, str] = {}
    index: dict[str, Any] = {"kubernetes": K8S, "objectMeta": f"core/{K8S}/ObjectMeta.definitions.json",
                             "kinds": {}, "releases": {}, "aliases": {}}
    files[index["objectMeta"]] = _dump(meta)

    def add(component: str, release: str, doc: dict[str, Any], note: str = "") -> None:
        rel = f"{_group_dir(doc['group'])}/{release}/{doc['kind']}.json"
        files[rel] = _dump(doc)
        key = f"{_group_dir(doc['group'])}/{doc['kind']}"
        entry = index["kinds"].setdefault(key, {"component": component, "releases": {}})
        entry["releases"][release] = rel
        index["releases"].setdefault(component, {})[release] = note or doc["source"]

    for g, v, k in CORE_KINDS:
        add("kubernetes", K8S, core_file(g, v, k, defs))
    for r in RELEASES:
        for crd_file in r.crds:
            crd = yaml.safe_load((reference / "crds" / crd_file).read_text())
            kind = crd["spec"]["names"]["kind"]
            patches = []
            if kind in r.patches:
                patches = list(yaml.safe_load((reference / "crds" / r.patches[kind]).read_text()))
            doc = crd_kind_file(crd, meta, release=r.release, source=r.source, remove=r.remove.get(kind, ()),
                                patches=patches)
            add(r.component, r.release, doc, r.note)
    for doc in katib_files(reference, defs).values():
        add("katib", KATIB.release, doc)
    add("trainer", TRAINING_OPERATOR.release, training_operator_file(defs))
    # a derived release that re-generates only some kinds uses its base release's files for the rest
    for r in RELEASES:
        if not r.remove:
            continue
        base = next(b for b in RELEASES if b.component == r.component and b.release != r.release and not b.remove)
        for entry in index["kinds"].values():
            if entry["component"] == r.component and base.release in entry["releases"]:
                entry["releases"].setdefault(r.release, entry["releases"][base.release])
    for comp, table in ALIASES.items():
        for release, (target, why) in table.items():
            index["aliases"].setdefault(comp, {})[release] = {"use": target, "why": why}
    index["kinds"] = dict(sorted(index["kinds"].items()))
    files["index.json"] = json.dumps(index, indent=1, sort_keys=True) + "\n"
    return files


def _dump(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if the shipped set differs from a fresh one")
    args = ap.parse_args()
    files = generate(args.reference)
    if args.check:
        have = {str(p.relative_to(args.out)): p.read_text() for p in args.out.rglob("*.json")}
        stale = sorted(set(have) ^ set(files) | {k for k in files if have.get(k) != files[k]})
        for s in stale:
            print(f"stale: {s}", file=sys.stderr)
        return 1 if stale else 0
    for p in args.out.rglob("*.json"):
        p.unlink()
    for rel, text in files.items():
        p = args.out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    for d in sorted(args.out.rglob("*"), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    total = sum(len(t) for t in files.values())
    print(f"wrote {len(files)} files, {total / 1e6:.2f} MB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
