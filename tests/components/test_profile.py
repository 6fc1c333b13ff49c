"""Profile renderer: the Profile, KFAM-style contributor RoleBindings and PodDefaults, checked against the
upstream Profile and PodDefault CRDs (strict) and the Kubernetes RBAC schema; Profile health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.components import BY_KEY
from kfconf.components.profile.health import HEALTH, profile
from kfconf.components.profile.render import binding_name
from kfconf.core.errors import FindingsError
from kfconf.core.resource import Resource
from kfconf.testing.crds import CrdSchema, core_errors

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO.parent / "shared" / "reference" / "crds" / "kubeflow.org"
SCHEMAS = {"Profile": CrdSchema(CRDS / "kubeflow.org_profiles.yaml", "v1"),
           "PodDefault": CrdSchema(CRDS / "kubeflow.org_poddefaults.yaml", "v1alpha1")}
STACKS = ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy", "local")

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: meta@example.com}
spec:
  profile:
    namespace: team-a
    owner: alice@example.com
    contributors: [Bob.Smith@Example.com, alice@example.com, carol+ml@example.org, Bob.Smith@Example.com]
    quota: {cpu: "64", memory: 256Gi, gpu: 8, storage: 1Ti, pvcs: 20}
    podDefaults:
      - name: hf-token
        description: HuggingFace token
        env: {HF_HOME: /cache/hf, RETRIES: 3, OFFLINE: false}
        secretVolumes: {hf-credentials: /etc/hf, gcp.key: /etc/gcp}
      - {name: plain}
"""


def project(tmp_path: Path, spec: str = SPEC, stack: str | None = None) -> tuple[Any, Any]:
    (tmp_path / "ml-project.yaml").write_text(spec)
    p, st, _ = load_project(tmp_path, None, stack)
    return p, st


def render(p: Any, st: Any) -> list[Resource]:
    return list(BY_KEY["profile"].run_render(RenderContext(p, st, "profile")))


def errors(r: Resource) -> list[str]:
    return SCHEMAS[r.kind].errors(r.body) if r.kind in SCHEMAS else core_errors(r.body)


def test_profile_body(tmp_path: Path) -> None:
    prof = render(*project(tmp_path))[0]
    assert prof.body == {
        "apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": "team-a"},
        "spec": {"owner": {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"},
                 "resourceQuotaSpec": {"hard": {"cpu": "64", "memory": "256Gi", "requests.nvidia.com/gpu": "8",
                                                "requests.storage": "1Ti", "persistentvolumeclaims": "20"}}},
    }
    assert prof.id == "Profile/team-a"  # cluster-scoped
    assert prof.origin is not None and prof.origin.line == 5
    assert prof.explain["spec.resourceQuotaSpec.hard.requests.nvidia.com/gpu"] == "ml-project.yaml:9"
    assert prof.explain["spec.owner.name"] == "ml-project.yaml:7"


def test_owner_falls_back_to_metadata_and_is_required(tmp_path: Path) -> None:
    p, st = project(tmp_path, SPEC.replace("    owner: alice@example.com\n", ""))
    prof = render(p, st)[0]
    assert prof.body["spec"]["owner"]["name"] == "meta@example.com"
    assert prof.explain["spec.owner.name"] == "ml-project.yaml:3"
    assert "resourceQuotaSpec" in prof.body["spec"]
    no_owner = SPEC.replace("    owner: alice@example.com\n", "").replace(", owner: meta@example.com", "")
    with pytest.raises(FindingsError) as e:
        project(tmp_path, no_owner)
    assert [(d.code, d.path) for d in e.value.diagnostics] == [("KF102", ("spec", "profile"))]


def test_contributors_as_kfam_writes_them(tmp_path: Path) -> None:
    bindings = [r for r in render(*project(tmp_path)) if r.kind == "RoleBinding"]
    assert [b.name for b in bindings] == ["user-bob-smith-example-com-clusterrole-edit",
                                         "user-carol-ml-example-org-clusterrole-edit"]  # owner and repeat skipped
    bob = bindings[0].body
    assert bob["metadata"] == {"name": "user-bob-smith-example-com-clusterrole-edit", "namespace": "team-a",
                               "annotations": {"role": "edit", "user": "Bob.Smith@Example.com"}}
    assert bob["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "kubeflow-edit"}
    assert bob["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                "name": "Bob.Smith@Example.com"}]
    assert bindings[0].origin is not None and bindings[0].origin.line == 8


def test_binding_name_matches_kfam() -> None:
    # kubeflow/dashboard kfam getBindingName: non-alphanumerics → '-', lower-cased, kind and role joined
    assert binding_name("user@example.com", "edit") == "user-user-example-com-clusterrole-edit"
    assert binding_name("A.B_c@Sub.Example.com", "view") == "user-a-b-c-sub-example-com-clusterrole-view"


def test_pod_defaults(tmp_path: Path) -> None:
    pds = [r for r in render(*project(tmp_path)) if r.kind == "PodDefault"]
    assert [p.id for p in pds] == ["PodDefault/team-a/hf-token", "PodDefault/team-a/plain"]
    spec = pds[0].body["spec"]
    assert spec["selector"] == {"matchLabels": {"hf-token": "true"}}
    assert spec["desc"] == "HuggingFace token"
    assert spec["env"] == [{"name": "HF_HOME", "value": "/cache/hf"}, {"name": "RETRIES", "value": "3"},
                           {"name": "OFFLINE", "value": "false"}]
    assert spec["volumes"] == [{"name": "hf-credentials", "secret": {"secretName": "hf-credentials"}},
                               {"name": "gcp-key", "secret": {"secretName": "gcp.key"}}]
    assert spec["volumeMounts"] == [{"name": "hf-credentials", "mountPath": "/etc/hf", "readOnly": True},
                                    {"name": "gcp-key", "mountPath": "/etc/gcp", "readOnly": True}]
    assert pds[1].body["spec"] == {"selector": {"matchLabels": {"plain": "true"}}, "desc": "plain"}
    assert pds[0].origin is not None and pds[0].origin.line == 11


@pytest.mark.parametrize("stack", STACKS)
def test_valid_against_the_crds(tmp_path: Path, stack: str) -> None:
    resources = render(*project(tmp_path, stack=stack))
    assert {r.kind for r in resources} == {"Profile", "RoleBinding", "PodDefault"}
    for r in resources:
        assert errors(r) == [], r.id


def test_the_strict_schemas_can_fail(tmp_path: Path) -> None:
    prof = render(*project(tmp_path))[0]
    prof.body["spec"]["quota"] = {"cpu": "1"}
    assert any("quota" in e for e in errors(prof))
    pd = next(r for r in render(*project(tmp_path)) if r.kind == "PodDefault")
    del pd.body["spec"]["selector"]
    assert any("selector" in e for e in errors(pd))


@pytest.mark.parametrize(("example", "env"), [("churn", None), ("churn", "prod"), ("llm-finetune", None),
                                              ("llm-finetune", "prod")])
def test_examples(example: str, env: str | None) -> None:
    p, st, _ = load_project(REPO / "examples" / example, env)
    resources = render(p, st)
    assert resources[0].kind == "Profile"
    for r in resources:
        assert errors(r) == [], r.id


def _profile(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": "team-a", **meta},
            "spec": {"owner": {"kind": "User", "name": "a@example.com"}}}


@pytest.mark.parametrize(("obj", "state", "message"), [
    ({**_profile(finalizers=["profile-finalizer"])}, "Healthy", "reconciled"),
    ({**_profile(finalizers=["profile-finalizer"]),
      "status": {"conditions": [{"type": "Failed", "message": "Owning namespace failed to create"}]}},
     "Healthy", "reconciled"),  # failures are never removed; the finalizer says a later reconcile got through
    ({**_profile(), "status": {"conditions": [
        {"type": "Failed", "message": "first"},
        {"type": "Failed", "message": "namespace already exist, but not owned by profile creator a@example.com"}]}},
     "Degraded", "not owned by profile creator"),
    (_profile(), "Progressing", "waiting"),
    (_profile(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["profile-finalizer"]), "Progressing",
     "deleted"),
])
def test_health(obj: dict[str, Any], state: str, message: str) -> None:
    status = profile(obj)
    assert status.state == state
    assert message in status.message
    assert HEALTH["kubeflow.org/Profile"] is profile
