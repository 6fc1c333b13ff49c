"""Tenant lockdown is decided on the desired objects alone (before any API call)."""

from __future__ import annotations

import pytest

from kfconf.core.errors import UsageError
from kfconf.core.source import Loc
from kfconf.sync.tenant import DEFAULT_KINDS, TenantPolicy, parse_kinds


def obj(kind: str, ns: str | None, api: str = "v1", name: str = "x") -> dict[str, object]:
    meta: dict[str, object] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def test_refuses_other_namespaces_cluster_scoped_kinds_and_unlisted_kinds() -> None:
    policy = TenantPolicy("team-a", frozenset(parse_kinds("ConfigMap,trainer.kubeflow.org/TrainJob")))
    good = [obj("ConfigMap", "team-a"), obj("TrainJob", "team-a", "trainer.kubeflow.org/v1alpha1")]
    assert policy.check(good) == []
    bad = [obj("ConfigMap", "team-b"), obj("Namespace", None), obj("ClusterRole", None, "rbac.authorization.k8s.io/v1"),
           obj("Role", "team-a", "rbac.authorization.k8s.io/v1"), obj("TrainJob", "team-a", "other.io/v1")]
    where = {id(bad[0]): Loc("envs/prod/team-b/configmap.x.yaml", 1, 1)}
    diags = policy.check(bad, where)
    assert [d.code for d in diags] == ["KF603"] * 5
    assert "expected namespace team-a, got team-b" in diags[0].message and diags[0].loc == where[id(bad[0])]
    assert "cluster-scoped Namespace" in diags[1].message
    assert "cluster-scoped ClusterRole" in diags[2].message
    assert "kind Role is not allowed" in diags[3].message
    assert "kind TrainJob is not allowed" in diags[4].message  # group-qualified allow-list: other.io is not it


def test_default_kinds_are_namespaced_and_leave_out_rbac() -> None:
    assert "TrainJob" in DEFAULT_KINDS and "InferenceService" in DEFAULT_KINDS
    assert not {"Role", "RoleBinding", "Secret", "Namespace", "Profile"} & set(DEFAULT_KINDS)
    assert parse_kinds(None) == DEFAULT_KINDS
    with pytest.raises(UsageError):
        parse_kinds("configmaps")
