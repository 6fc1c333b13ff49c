"""Tenant lockdown, twice: kfconf refuses out-of-bounds objects before any API call (KF603), and the
syncer's least-privilege RBAC refuses the same things on the server — shown with the restricted
identity bound to the tenant Role, and with the ServiceAccount from `kfconf syncer manifests`
(impersonated by the admin).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from sync_helpers import GitOps, Sync, actions, cm, names, until  # type: ignore[import-not-found]

from kfconf.cli.main import main
from kfconf.core.errors import FindingsError
from kfconf.sync.health import build_registry
from kfconf.sync.kube import Kube, KubeError
from kfconf.sync.manager import ResourceManager, SyncOptions
from kfconf.sync.objects import ObjRef
from kfconf.sync.source import Manifest
from kfconf.sync.tenant import DEFAULT_KINDS, TenantPolicy
from kfconf.testing.controlplane import ControlPlane

pytestmark = pytest.mark.cluster

TRAINJOB = "trainer.kubeflow.org/v1alpha1"


def trainjob(ns: str, name: str) -> dict[str, Any]:
    return {"apiVersion": TRAINJOB, "kind": "TrainJob",
            "metadata": {"name": name, "namespace": ns, "labels": {"kfconf.dev/project": "demo"}},
            "spec": {"runtimeRef": {"name": "torch-distributed"}, "suspend": True}}


def test_tenant_syncs_its_namespace_with_the_restricted_identity(sync: Sync, gitops: GitOps, kube: Kube,
                                                                 namespace: str, bind_tenant: Any) -> None:
    bind_tenant(namespace, DEFAULT_KINDS)
    gitops.put([cm(namespace, "a"), trainjob(namespace, "t")])
    code, report, err = sync.json("--tenant-namespace", namespace, restricted=True)
    assert code == 0, err
    assert set(actions(report).values()) == {"created"}
    gitops.put([cm(namespace, "a", {"v": "2"})])
    code, report, err = sync.json("--tenant-namespace", namespace, restricted=True)
    assert code == 0, err
    assert actions(report) == {f"ConfigMap/{namespace}/a": "configured", f"TrainJob/{namespace}/t": "deleted"}
    assert [t["metadata"]["name"] for t in kube.list(TRAINJOB, "TrainJob", namespace)] == []


@pytest.mark.parametrize("intruder", ["other-namespace", "cluster-scoped", "kind-not-allowed"])
def test_tenant_refuses_objects_outside_its_bounds_before_any_api_call(
        sync: Sync, gitops: GitOps, kube: Kube, control_plane: ControlPlane, namespace: str, bind_tenant: Any,
        intruder: str) -> None:
    bind_tenant(namespace, DEFAULT_KINDS)
    other = control_plane.new_namespace("victim")
    bad = {
        "other-namespace": cm(other, "x"),
        "cluster-scoped": {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": f"{namespace}-grab", "labels": {"kfconf.dev/project": "demo"}}},
        "kind-not-allowed": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                             "metadata": {"name": "escalate", "namespace": namespace,
                                          "labels": {"kfconf.dev/project": "demo"}},
                             "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
    }[intruder]
    gitops.put([cm(namespace, "a"), bad])
    code, _, err = sync("--tenant-namespace", namespace, restricted=True)
    assert code == 1 and "error[KF603]" in err
    assert names(kube, namespace) == set()  # nothing at all was applied, not even the good object
    assert names(kube, other) == set()

    # "before any API call": the same refusal with an API server that does not exist
    dead = Kube(control_plane.admin_client())
    dead.api.configuration.host = "https://127.0.0.1:9"  # nothing listens there
    manager = ResourceManager(dead, build_registry(), SyncOptions(tenant=TenantPolicy(namespace,
                                                                                     frozenset(DEFAULT_KINDS))))
    from kfconf.core.source import Loc

    with pytest.raises(FindingsError) as e:
        manager.reconcile([Manifest(cm(namespace, "a"), Loc("a.yaml", 1, 1)), Manifest(bad, Loc("b.yaml", 1, 1))])
    assert [d.code for d in e.value.diagnostics] == ["KF603"]


def test_rbac_refuses_it_too_without_the_lockdown(sync: Sync, gitops: GitOps, kube: Kube,
                                                  control_plane: ControlPlane, namespace: str,
                                                  bind_tenant: Any) -> None:
    bind_tenant(namespace, DEFAULT_KINDS)
    other = control_plane.new_namespace("victim")
    gitops.put([cm(namespace, "a"), cm(other, "x")])
    # no --tenant-namespace: kfconf does not stop it, the API server does (403), reported per object
    code, report, _err = sync.json("--namespace", namespace, restricted=True)
    assert code == 1
    got = {r["id"]: r for r in report["resources"]}
    assert got[f"ConfigMap/{other}/x"]["action"] == "failed" and got[f"ConfigMap/{other}/x"]["code"] == "KF603"
    assert "forbidden" in got[f"ConfigMap/{other}/x"]["message"]
    assert names(kube, other) == set()


def kubectl_apply(cp: ControlPlane, docs: list[dict[str, Any]], *extra: str) -> str:
    text = "".join("---\n" + yaml.safe_dump(d) for d in docs)
    return cp.kubectl("apply", "--server-side", "--field-manager=platform-admin", *extra, "-f", "-", input=text).stdout


def test_syncer_manifests_apply_and_grant_exactly_the_tenant(tmp_path: Path, control_plane: ControlPlane,
                                                            kube: Kube, gitops: GitOps, namespace: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["syncer", "manifests", "--tenant", namespace, "--repo", "https://git.example.com/gitops.git",
                     "--path", "envs/prod"]) == 0
    docs = [d for d in yaml.safe_load_all(out.getvalue()) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Deployment", "Role", "Role", "RoleBinding", "RoleBinding", "ServiceAccount"]
    assert all(d["metadata"]["namespace"] == namespace for d in docs)  # nothing cluster-wide

    assert "serverside-applied (server dry run)" in kubectl_apply(control_plane, docs, "--dry-run=server")
    assert names(kube, namespace, "ServiceAccount") == set()  # the dry run wrote nothing
    kubectl_apply(control_plane, docs)
    assert names(kube, namespace, "ServiceAccount") == {"kfconf-syncer"}

    sa = Kube(control_plane.admin_client(), impersonate=f"system:serviceaccount:{namespace}:kfconf-syncer")
    # it can do its job in its namespace: a whole sync, with its inventory and events
    gitops.put([cm(namespace, "a"), trainjob(namespace, "t")])
    from kfconf.sync.source import GitSource

    src = GitSource(str(gitops.root), "main", gitops.folder, tmp_path / "cache")
    manager = ResourceManager(sa, build_registry(), SyncOptions(tenant=TenantPolicy(namespace,
                                                                                   frozenset(DEFAULT_KINDS))))
    cs = until(lambda: manager.reconcile(src.manifests(src.fetch())))
    assert cs.ok, [e.line() for e in cs.entries]
    assert {e.action.value for e in cs.entries} == {"created"}
    assert [e["reason"] for e in kube.list("v1", "Event", namespace)] == ["ReconciliationSucceeded"]

    # and nothing outside it
    other = control_plane.new_namespace("victim")

    def status(fn: Any) -> int:
        try:
            fn()
        except KubeError as e:
            return e.status
        return 200

    assert status(lambda: sa.apply(cm(other, "x"))) == 403
    assert status(lambda: list(sa.list("v1", "ConfigMap", other))) == 403
    assert status(lambda: sa.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "grab"}})) == 403
    assert status(lambda: sa.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                    "metadata": {"name": "x", "namespace": namespace}, "rules": []})) == 403
    assert status(lambda: list(sa.list("v1", "Secret", namespace))) == 403
    assert status(lambda: sa.get(ObjRef("", "Namespace", "", namespace, "v1"))) == 200
    assert status(lambda: sa.get(ObjRef("", "Namespace", "", other, "v1"))) == 403
    can_i = control_plane.kubectl("auth", "can-i", "--list", "-n", other,
                                  f"--as=system:serviceaccount:{namespace}:kfconf-syncer").stdout
    assert "configmaps" not in can_i and "trainjobs" not in can_i
