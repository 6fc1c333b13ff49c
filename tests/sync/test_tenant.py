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


def pod_job(sa: str | None, kind: str = "Job", api: str = "batch/v1") -> dict[str, object]:
    spec: dict[str, object] = {"containers": [{"name": "c", "image": "busybox"}]}
    if sa:
        spec |= {"serviceAccountName": sa, "automountServiceAccountToken": True}
    return {**obj(kind, "team-a", api), "spec": {"template": {"spec": spec}}}


def test_refuses_escalation_inside_the_namespace() -> None:
    """What RBAC cannot see (a pod template's ServiceAccount) or grants by design (escalate on Roles)."""
    policy = TenantPolicy("team-a", frozenset(parse_kinds(
        ",".join((*DEFAULT_KINDS, "Role", "RoleBinding", "Deployment", "Secret")))))
    rbac = "rbac.authorization.k8s.io/v1"
    ok = [pod_job(None), pod_job("default-editor"), pod_job("spark", "Deployment", "apps/v1"),
          {**obj("ServiceAccount", "team-a", name="spark")},
          {**obj("RoleBinding", "team-a", rbac), "roleRef": {"kind": "ClusterRole", "name": "kubeflow-edit"}},
          {**obj("RoleBinding", "team-a", rbac), "roleRef": {"kind": "Role", "name": "spark"}},
          {**obj("Role", "team-a", rbac), "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]},
          {**obj("Secret", "team-a"), "type": "kubernetes.io/service-account-token",
           "metadata": {"name": "t", "namespace": "team-a", "annotations": {
               "kubernetes.io/service-account.name": "spark"}}}]
    assert policy.check(ok) == []
    bad = [pod_job("kfconf-syncer"), pod_job("platform-admin", "Deployment", "apps/v1"),
           {**obj("SparkApplication", "team-a", "sparkoperator.k8s.io/v1beta2"),
            "spec": {"driver": {"serviceAccount": "kfconf-syncer"}}},
           {**obj("PodDefault", "team-a", "kubeflow.org/v1alpha1"), "spec": {"serviceAccountName": "kfconf-syncer"}},
           {**obj("Secret", "team-a"), "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "t", "namespace": "team-a", "annotations": {
                "kubernetes.io/service-account.name": "kfconf-syncer"}}},
           {**obj("RoleBinding", "team-a", rbac), "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}},
           {**obj("Role", "team-a", rbac), "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
           {**obj("Role", "team-a", rbac), "rules": [{"apiGroups": ["rbac.authorization.k8s.io"],
                                                      "resources": ["roles"], "verbs": ["escalate", "bind"]}]},
           {**obj("Role", "team-a", rbac), "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                                                      "verbs": ["create"]}]}]
    diags = policy.check(bad)
    assert [d.code for d in diags] == ["KF603"] * len(bad)
    text = [d.message for d in diags]
    assert "spec.template.spec.serviceAccountName runs as ServiceAccount kfconf-syncer" in text[0]
    assert "platform-admin" in text[1] and "spec.driver.serviceAccount" in text[2]
    assert "spec.serviceAccountName" in text[3] and "token Secret for ServiceAccount kfconf-syncer" in text[4]
    assert "binds ClusterRole cluster-admin" in text[5] and "wildcard" in text[6]
    assert "escalate" in text[7] and "serviceaccounts/token" in text[8]
    # a ServiceAccount the source defines but someone else owns in the cluster is not the project's
    assert [d.code for d in policy.check(ok, foreign_service_accounts=frozenset({"spark"}))] == ["KF603"] * 2


def test_a_bare_kind_name_means_the_kind_kfconf_knows() -> None:
    policy = TenantPolicy("team-a", frozenset(DEFAULT_KINDS))
    # a cluster-scoped kind of another group, named like an allowed one, with a namespace written on it
    impostor = obj("ConfigMap", "team-a", "evil.example.com/v1")
    assert [d.code for d in policy.check([impostor])] == ["KF603"]
    assert "evil.example.com/v1" in policy.check([impostor])[0].message
    assert policy.check([obj("ConfigMap", "team-a"), obj("Job", "team-a", "batch/v1")]) == []
    custom = TenantPolicy("team-a", frozenset(parse_kinds("Widget,example.com/Gadget")))
    assert custom.check([obj("Widget", "team-a", "any.io/v1"), obj("Gadget", "team-a", "example.com/v1")]) == []
    assert [d.code for d in custom.check([obj("Gadget", "team-a", "other.io/v1")])] == ["KF603"]
