"""Every build output of every example × environment × stack is accepted by the upstream schemas
themselves — the CRD files in ../shared/reference, read here directly (not kfconf's shipped set), core
kinds by kubernetes-validate's strict schemas, Katib by its OpenAPI. This is the proof that the shipped
schema set is faithful: a field kfconf's check accepts but upstream rejects would fail here.

The oracle is deliberately small and separate from kfconf.build.schemas_convert: unknown fields are
rejected where the API server would prune them; int-or-string, nullable and embedded resources are
honoured; nothing else is added.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator

from kfconf.build import build_project
from kfconf.core.errors import FindingsError
from kfconf.spec.stacks import load_stack
from tests.build.golden_cases import BASE, EXAMPLES, ROOT, cases

REFERENCE = ROOT.parent / "shared" / "reference"
# Kinds with no upstream schema in the reference set: PyTorchJob (Training Operator v1, legacy stack).
NO_REFERENCE = {("kubeflow.org", "PyTorchJob")}


def strict(node: Any, top: bool = True) -> Any:
    if isinstance(node, list):
        return [strict(v, False) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: (strict(v, False) if k in ("items", "additionalProperties", "not") else
               {n: strict(s, False) for n, s in v.items()} if k == "properties" else
               [strict(b, False) for b in v] if k in ("anyOf", "oneOf", "allOf") else v)
           for k, v in node.items() if not k.startswith("x-") and k not in ("nullable", "format")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-embedded-resource"):
        for k in ("apiVersion", "kind", "metadata"):
            out.setdefault("properties", {}).setdefault(k, {})
    if node.get("type") == "object" and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if isinstance(node.get("exclusiveMinimum"), bool):
        out.pop("exclusiveMinimum")
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if top:
        out.setdefault("properties", {})["metadata"] = {"type": "object"}  # ObjectMeta: the API server's own
        for k in ("apiVersion", "kind"):
            out["properties"].setdefault(k, {"type": "string"})
    return out


@cache
def crd_validators() -> dict[tuple[str, str, str, str], Draft7Validator]:
    """(trainer release, group, kind, version) → validator, for every reference CRD."""
    out = {}
    patches = yaml.safe_load((REFERENCE / "crds/kubeflow.org/kubeflow.org_notebooks.validation_patches.yaml")
                             .read_text())
    for f in sorted((REFERENCE / "crds").rglob("*.yaml")):
        if "patches" in f.name:
            continue
        crd = yaml.safe_load(f.read_text())
        if crd["spec"]["names"]["kind"] == "Notebook":
            for p in patches:  # the JSON6902 patches upstream kustomize applies
                parts = p["path"].strip("/").split("/")
                node = crd
                for part in parts[:-1]:
                    node = node[int(part)] if isinstance(node, list) else node[part]
                node[parts[-1]] = p["value"]
        release = "v2.1.0" if "v2.1.0" in f.parts else "latest"
        for v in crd["spec"]["versions"]:
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                out[(release, crd["spec"]["group"], crd["spec"]["names"]["kind"], v["name"])] = \
                    Draft7Validator(strict(schema))
    return out


@cache
def katib_validator() -> Draft7Validator:
    swagger = json.loads((REFERENCE / "openapi/katib-v1beta1.swagger.json").read_text())
    defs = {k: strict(v, False) for k, v in swagger["definitions"].items()}
    for k in ("v1.Container", "v1.HTTPGetAction", "v1.ObjectMeta", "v1.Time", "v1.unstructured.Unstructured",
              "v1.ListMeta"):
        defs[k] = {}  # Kubernetes types; the trial spec is checked against its own kind below
    root = dict(defs["v1beta1.Experiment"])
    root["properties"] = {k: v for k, v in root["properties"].items() if k != "status"}
    return Draft7Validator({**root, "definitions": defs})


def upstream_errors(body: dict[str, Any], trainer_release: str) -> list[str]:
    group, _, version = str(body["apiVersion"]).rpartition("/")
    kind = body["kind"]
    if (group, kind) in NO_REFERENCE:
        return []
    if (group, kind) == ("kubeflow.org", "Experiment"):
        errs = [f"{list(e.absolute_path)}: {e.message}" for e in katib_validator().iter_errors(body)]
        trial = body["spec"]["trialTemplate"].get("trialSpec")
        if trial:
            trial = {**trial, "metadata": {**(trial.get("metadata") or {}), "name": "trial"}}
            errs += [f"trialSpec: {e}" for e in upstream_errors(trial, trainer_release)
                     if "${trialParameters." not in e]
        return errs
    if "." not in group or (group.endswith(".k8s.io") and group != "sparkoperator.k8s.io"):
        try:
            kubernetes_validate.validate(body, "1.33", strict=True)
        except kubernetes_validate.ValidationError as e:
            return [f"{list(e.path)}: {e.message}"]
        return []
    release = trainer_release if group == "trainer.kubeflow.org" else "latest"
    v = crd_validators().get((release, group, kind, version))
    assert v is not None, f"no reference CRD for {kind} {body['apiVersion']}"
    return [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(body)]


@pytest.mark.parametrize(("example", "stack", "env"), cases(), ids=lambda v: str(v))
def test_build_output_is_accepted_by_the_upstream_schemas(example: str, stack: str, env: str) -> None:
    assert REFERENCE.is_dir(), f"the reference set is needed beside the repository: {REFERENCE}"
    try:
        result = build_project(EXAMPLES / example, None if env == BASE else env, stack, cwd=ROOT, check=False)
    except FindingsError:
        return  # the spec itself is refused for this stack (a golden diagnostics file says so); nothing emitted
    trainer = "v2.1.0" if load_stack(stack).component("trainer").get("version") == "v2.1.0" else "latest"
    bad = {r.id: errs for r in result.resources if (errs := upstream_errors(r.body, trainer))}
    assert bad == {}


def test_the_oracle_rejects_what_upstream_rejects() -> None:
    """The oracle is not a rubber stamp: a misspelled field, a wrong type and a 2.1-only field on 2.3."""
    tj = yaml.safe_load((REFERENCE / "examples/trainer/01-multi-node.yaml").read_text())
    assert upstream_errors(tj, "latest") == []
    bad = json.loads(json.dumps(tj))
    bad["spec"]["trainer"]["numNodez"] = 2
    assert any("numNodez" in e for e in upstream_errors(bad, "latest"))
    bad = json.loads(json.dumps(tj))
    bad["spec"]["podTemplateOverrides"] = []
    assert upstream_errors(bad, "latest") and not upstream_errors(bad, "v2.1.0")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}, "extra": 1}
    assert upstream_errors(cm, "latest")
    exp = yaml.safe_load((REFERENCE / "examples/katib/tpe.yaml").read_text())
    assert upstream_errors(exp, "latest") == []
    exp["spec"]["parameters"][0]["feasibleSpace"]["min"] = 0.01
    assert upstream_errors(exp, "latest")


def test_only_known_kinds_lack_a_reference() -> None:
    """Which kinds the examples emit without an upstream schema to prove them against: only NO_REFERENCE."""
    seen: set[tuple[str, str]] = set()
    for example, stack, env in cases():
        try:
            result = build_project(EXAMPLES / example, None if env == BASE else env, stack, cwd=ROOT, check=False)
        except FindingsError:
            continue
        seen |= {(r.group, r.kind) for r in result.resources}
    assert seen, "no example builds at all"
    core = {(g, k) for g, k in seen if "." not in g or (g.endswith(".k8s.io") and g != "sparkoperator.k8s.io")}
    crds = {(g, k) for _, g, k, _ in crd_validators()} | {("kubeflow.org", "Experiment")}
    assert seen - core - crds <= NO_REFERENCE
