"""The control plane is real: server-side apply, structural schemas, CEL rules, RBAC, restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kfconf.testing.apply import ApplyError
from kfconf.testing.binaries import KUBE_VERSION
from kfconf.testing.controlplane import ADMIN_USER, RESTRICTED_USER, ControlPlane
from kfconf.testing.stackcrds import crd_files_for_stack, load_crds, standin_crds_for_stack

pytestmark = pytest.mark.cluster


def get(client: Any, path: str) -> Any:
    return client.call_api(
        path,
        "GET",
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        response_type="object",
        _return_http_data_only=True,
    )


def post(client: Any, path: str, body: dict[str, Any], query: list[tuple[str, str]] | None = None) -> Any:
    return client.call_api(
        path,
        "POST",
        body=body,
        query_params=query or [],
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
        response_type="object",
        _return_http_data_only=True,
    )


def status_of(fn: Callable[[], Any]) -> int:
    try:
        fn()
    except ApiException as e:
        return int(e.status)
    except ApplyError as e:
        return e.status
    return 200


def trainjob(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"runtimeRef": {"name": "torch-distributed"}, **spec},
    }


# ---- the plane itself ------------------------------------------------------------------------------------


def test_version_readyz_and_kubectl(control_plane: ControlPlane) -> None:
    admin = control_plane.admin_client()
    assert get(admin, "/version")["gitVersion"] == KUBE_VERSION
    out = control_plane.kubectl("version", "-o", "json")
    assert json.loads(out.stdout)["serverVersion"]["gitVersion"] == KUBE_VERSION
    who = control_plane.kubectl("auth", "whoami", "-o", "json")
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == ADMIN_USER
    who = control_plane.kubectl("auth", "whoami", "-o", "json", restricted=True)
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == RESTRICTED_USER
    assert "system:masters" not in info.get("groups", [])
    # every process is ours and alive; etcd meets kube-apiserver 1.35's minimum (>= 3.5.13)
    assert set(control_plane.pids) == {"etcd", "kube-apiserver"}
    assert all(v and v > 0 for v in control_plane.rss_kib().values())


def test_crds_of_the_stack_are_established(control_plane: ControlPlane, reference_dir: Path) -> None:
    files = crd_files_for_stack("kubeflow-latest", reference_dir)
    names = {c["metadata"]["name"] for c in load_crds(files)}
    assert {"trainjobs.trainer.kubeflow.org", "inferenceservices.serving.kserve.io",
            "experiments.kubeflow.org", "notebooks.kubeflow.org", "profiles.kubeflow.org"} <= names
    assert names <= set(control_plane.installed_crds)
    served = get(control_plane.admin_client(), "/apis/trainer.kubeflow.org/v1alpha1")
    kinds = {r["kind"] for r in served["resources"]}
    assert kinds >= {"TrainJob", "TrainingRuntime", "ClusterTrainingRuntime"}


# ---- server-side apply -----------------------------------------------------------------------------------


def test_server_side_apply_twice_records_managed_fields(control_plane: ControlPlane, namespace: str) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "namespace": namespace, "labels": {"app": "kfconf"}},
        "data": {"a": "1"},
    }
    first = control_plane.apply(cm, field_manager="kfconf-a")
    cm["data"] = {"a": "2", "b": "3"}
    second = control_plane.apply(cm, field_manager="kfconf-a")
    assert second["data"] == {"a": "2", "b": "3"}
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    managers = [(m["manager"], m["operation"]) for m in second["metadata"]["managedFields"]]
    assert managers == [("kfconf-a", "Apply")]
    owned = second["metadata"]["managedFields"][0]["fieldsV1"]
    assert set(owned["f:data"]) == {"f:a", "f:b"}
    assert "f:app" in owned["f:metadata"]["f:labels"]

    # applying the same set again is a no-op: nothing is written
    third = control_plane.apply(cm, field_manager="kfconf-a")
    assert third["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]

    # a second manager changing an owned field conflicts unless it forces
    other = {**cm, "data": {"a": "changed"}}
    with pytest.raises(ApplyError) as exc:
        control_plane.apply(other, field_manager="kfconf-b", force=False)
    assert exc.value.status == 409
    assert "conflict" in exc.value.message.lower()

    # fields dropped from the applied configuration are removed (the basis of pruning by field ownership)
    fourth = control_plane.apply({**cm, "data": {"a": "2"}}, field_manager="kfconf-a")
    assert fourth["data"] == {"a": "2"}

    # dry run: the answer shows the change, the stored object does not
    dry = control_plane.apply({**cm, "data": {"a": "dry"}}, field_manager="kfconf-a", dry_run=True)
    assert dry["data"] == {"a": "dry"}
    stored = get(control_plane.admin_client(), f"/api/v1/namespaces/{namespace}/configmaps/ssa")
    assert stored["data"] == {"a": "2"}


def test_strict_field_validation_rejects_unknown_field(control_plane: ControlPlane, namespace: str) -> None:
    good = trainjob("strict-ok", namespace)
    assert control_plane.apply(good, dry_run=True)["spec"]["runtimeRef"]["name"] == "torch-distributed"
    bad = trainjob("strict-bad", namespace, notAField=True)
    # Server-side apply builds a typed patch from the CRD's structural schema; an undeclared field fails
    # that conversion. kube-apiserver answers 500 (InternalError) here, whatever fieldValidation says.
    with pytest.raises(ApplyError) as exc:
        control_plane.apply(bad, dry_run=True)
    assert exc.value.status >= 400
    assert ".spec.notAField: field not declared in schema" in exc.value.message
    # create/update with fieldValidation=Strict: the strict decoder answers 400 BadRequest
    admin = control_plane.admin_client()
    with pytest.raises(ApiException) as api_exc:
        post(admin, f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{namespace}/trainjobs", bad,
             query=[("fieldValidation", "Strict"), ("dryRun", "All")])
    assert api_exc.value.status == 400
    assert 'strict decoding error: unknown field "spec.notAField"' in json.loads(api_exc.value.body)["message"]
    # without Strict the same create would be accepted with the field silently pruned: the reason to use it
    pruned = post(admin, f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{namespace}/trainjobs", bad,
                  query=[("fieldValidation", "Ignore"), ("dryRun", "All")])
    assert "notAField" not in pruned["spec"]
    # a core kind: the same for built-in types
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": namespace},
          "dataa": {"k": "v"}}
    with pytest.raises(ApplyError) as exc:
        control_plane.apply(cm, dry_run=True)
    assert ".dataa: field not declared in schema" in exc.value.message
    with pytest.raises(ApiException) as api_exc:
        post(admin, f"/api/v1/namespaces/{namespace}/configmaps", cm,
             query=[("fieldValidation", "Strict"), ("dryRun", "All")])
    assert 'strict decoding error: unknown field "dataa"' in json.loads(api_exc.value.body)["message"]


def test_openapi_schema_rejects_wrong_type_and_missing_required(
    control_plane: ControlPlane, namespace: str
) -> None:
    bad = trainjob("typed", namespace, suspend="yes")
    with pytest.raises(ApplyError) as exc:  # SSA: the typed patch fails (500, like an unknown field)
        control_plane.apply(bad, dry_run=True)
    assert ".spec.suspend: expected boolean" in exc.value.message
    # schema validation proper (422 Invalid): a required field is missing, a string is too long
    no_ref = {**trainjob("noref", namespace), "spec": {"suspend": True}}
    with pytest.raises(ApplyError) as exc:
        control_plane.apply(no_ref, dry_run=True)
    assert exc.value.status == 422
    assert "spec.runtimeRef: Required value" in exc.value.message
    long_ref = trainjob("longref", namespace, runtimeRef={"name": "x" * 300})
    with pytest.raises(ApplyError) as exc:
        control_plane.apply(long_ref, dry_run=True)
    assert exc.value.status == 422
    assert "spec.runtimeRef.name: Too long" in exc.value.message


def test_cel_rule_of_real_trainjob_crd_rejects_bad_name(control_plane: ControlPlane, namespace: str) -> None:
    cel = "metadata.name must match RFC 1035 DNS label format"  # TrainJob's root x-kubernetes-validations
    generic = "a lowercase RFC 1123 subdomain"  # the API machinery's own check of every object name
    with pytest.raises(ApplyError) as exc:
        control_plane.apply(trainjob("MyJob", namespace), dry_run=True)
    assert exc.value.status == 422
    assert cel in exc.value.message and generic in exc.value.message
    # valid RFC 1123 subdomains, so only the CRD's CEL rule can refuse them
    for name in ("my.job", "1job"):
        with pytest.raises(ApplyError) as exc:
            control_plane.apply(trainjob(name, namespace), dry_run=True)
        assert exc.value.status == 422, exc.value
        assert cel in exc.value.message and generic not in exc.value.message
    # and a CEL rule on a field: managedBy must be one of two controllers
    with pytest.raises(ApplyError) as exc:
        control_plane.apply(trainjob("managed", namespace, managedBy="someone/else"), dry_run=True)
    assert "ManagedBy must be" in exc.value.message
    # a good one is stored
    stored = control_plane.apply(trainjob("my-job", namespace))
    assert stored["metadata"]["uid"]
    # immutability (transition rule self == oldSelf) needs the stored object: real update semantics
    with pytest.raises(ApplyError) as exc:
        control_plane.apply({**trainjob("my-job", namespace), "spec": {"runtimeRef": {"name": "other"}}})
    assert "field is immutable" in exc.value.message


# ---- RBAC ------------------------------------------------------------------------------------------------


def wait_allowed(fn: Callable[[], Any], timeout: float = 15.0) -> int:
    """RBAC changes reach the authorizer through informers: retry 403 for a little while."""
    deadline = time.monotonic() + timeout
    code = status_of(fn)
    while code == 403 and time.monotonic() < deadline:
        time.sleep(0.2)
        code = status_of(fn)
    return code


def test_rbac_restricted_identity(control_plane: ControlPlane, namespace: str) -> None:
    tenant = control_plane.restricted_client()
    other_ns = control_plane.new_namespace("rbac-other")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tenant-cm", "namespace": namespace},
          "data": {"k": "v"}}

    assert status_of(lambda: get(tenant, "/api/v1/namespaces")) == 403
    assert status_of(lambda: control_plane.apply(cm, client=tenant, field_manager="tenant")) == 403
    assert status_of(lambda: get(tenant, f"/api/v1/namespaces/{namespace}/configmaps")) == 403

    control_plane.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "kfconf-tenant", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                   "verbs": ["get", "list", "create", "patch", "update", "delete"]}],
    })
    control_plane.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "kfconf-tenant", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kfconf-tenant"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RESTRICTED_USER}],
    })

    assert wait_allowed(lambda: control_plane.apply(cm, client=tenant, field_manager="tenant")) == 200
    assert get(tenant, f"/api/v1/namespaces/{namespace}/configmaps/tenant-cm")["data"] == {"k": "v"}
    # still nothing outside the bound namespace, and no cluster-wide reads
    other = {**cm, "metadata": {"name": "tenant-cm", "namespace": other_ns}}
    assert status_of(lambda: control_plane.apply(other, client=tenant, field_manager="tenant")) == 403
    assert status_of(lambda: get(tenant, "/api/v1/namespaces")) == 403
    # kubectl with the restricted kubeconfig agrees
    can = control_plane.kubectl("auth", "can-i", "create", "configmaps", "-n", namespace,
                                restricted=True, check=False)
    assert can.stdout.strip() == "yes"
    cannot = control_plane.kubectl("auth", "can-i", "list", "namespaces", restricted=True, check=False)
    assert cannot.stdout.strip() == "no"


# ---- stacks ----------------------------------------------------------------------------------------------


def test_crd_files_for_stack_choose_the_trainer_version(reference_dir: Path) -> None:
    ref = reference_dir
    latest = crd_files_for_stack("kubeflow-latest", ref)
    k2603 = crd_files_for_stack("kubeflow-26.03", ref)
    legacy = crd_files_for_stack("kubeflow-legacy", ref)
    trainer = ref / "crds" / "trainer.kubeflow.org"
    assert all(p.parent == trainer for p in latest if "trainer.kubeflow.org" in p.parts)
    assert all(p.parent == trainer / "v2.1.0" for p in k2603 if "trainer.kubeflow.org" in p.parts)
    assert not any("trainer.kubeflow.org" in p.parts for p in legacy)
    assert crd_files_for_stack("local", ref) == latest
    shared = [p for p in latest if "trainer.kubeflow.org" not in p.parts]
    assert shared == [p for p in k2603 if "trainer.kubeflow.org" not in p.parts] == legacy
    # the Notebook validation patch is applied (upstream kustomize does the same)
    nb = next(c for c in load_crds(latest) if c["metadata"]["name"] == "notebooks.kubeflow.org")
    containers = nb["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "template"]["properties"]["spec"]["properties"]["containers"]
    assert containers["minItems"] == 1 and containers["items"]["required"] == ["name", "image"]
    assert [c["spec"]["names"]["kind"] for c in standin_crds_for_stack("kubeflow-legacy")] == ["PyTorchJob"]
    with pytest.raises(ValueError):
        crd_files_for_stack("nope", ref)
    assert all(isinstance(p, Path) for p in latest)


def test_trainer_21_plane_serves_the_26_03_schema(
    control_plane: ControlPlane, control_plane_for: Callable[[str], ControlPlane]
) -> None:
    """Trainer 2.1 (podTemplateOverrides) and 2.3 (runtimePatches) differ: each stack has its own plane."""
    assert control_plane_for("kubeflow-latest") is control_plane
    plane = control_plane_for("kubeflow-26.03")
    assert plane is not control_plane
    ns = plane.new_namespace("trainer21")
    old_api = trainjob("old-api", ns, podTemplateOverrides=[{"targetJobs": [{"name": "node"}]}])
    assert plane.apply(old_api, dry_run=True)["spec"]["podTemplateOverrides"]
    with pytest.raises(ApplyError) as exc:
        control_plane.apply({**old_api, "metadata": {"name": "old", "namespace": "default"}}, dry_run=True)
    assert ".spec.podTemplateOverrides: field not declared in schema" in exc.value.message
    with pytest.raises(ApplyError) as exc:
        plane.apply(trainjob("new-api", ns, runtimePatches=[]), dry_run=True)
    assert ".spec.runtimePatches: field not declared in schema" in exc.value.message


# ---- faults ----------------------------------------------------------------------------------------------


def test_restart_apiserver_keeps_state_and_credentials(control_plane: ControlPlane, namespace: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "survivor", "namespace": namespace},
          "data": {"k": "v"}}
    control_plane.apply(cm)
    old_pid = control_plane.pids["kube-apiserver"]
    etcd_pid = control_plane.pids["etcd"]
    seconds = control_plane.restart_apiserver()
    assert control_plane.pids["kube-apiserver"] != old_pid
    assert control_plane.pids["etcd"] == etcd_pid
    assert seconds < 90
    # a new client from the same kubeconfig (same CA, same tokens) sees the stored object
    fresh = control_plane.admin_client()
    assert get(fresh, f"/api/v1/namespaces/{namespace}/configmaps/survivor")["data"] == {"k": "v"}
    # the CRDs are still served
    assert control_plane.apply(trainjob("after-restart", namespace), dry_run=True)


# ---- upstream examples -----------------------------------------------------------------------------------

# Upstream sample objects the real CRDs refuse, and why (a finding, not a plane defect).
KNOWN_REFUSALS = {
    # the KFP ScheduledWorkflow CRD lists `status` as required and has no status subresource:
    # an object without `status: {}` is refused (the samples predate that schema)
    "scheduledworkflow-every-minute-cron.yaml": "status: Required value",
    "scheduledworkflow-every-minute-periodic.yaml": "status: Required value",
    "scheduledworkflow-parameterized.yaml": "status: Required value",
}


def test_upstream_examples_are_accepted(control_plane: ControlPlane, reference_dir: Path) -> None:
    """The reference's upstream sample objects and runtimes go through the same SSA path as builds."""
    import yaml

    files = sorted((reference_dir / "examples").rglob("*.yaml")) + sorted(
        (reference_dir / "runtimes").rglob("*.yaml")
    )
    ns = control_plane.new_namespace("upstream")
    applied, failures = 0, []
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            meta = doc.get("metadata") if isinstance(doc, dict) else None
            if not isinstance(meta, dict) or not meta.get("name") or "kind" not in doc:
                continue  # KFP pipeline specs, KatibConfig, kustomizations: not API objects
            if "${" in yaml.safe_dump(meta):
                continue  # templates for envsubst
            if meta.get("namespace"):
                control_plane.ensure_namespace(meta["namespace"])
            try:
                control_plane.apply(doc, dry_run=True, namespace=ns, field_manager="upstream-examples")
                applied += 1
                assert f.name not in KNOWN_REFUSALS, f"{f.name} is accepted now: drop it from KNOWN_REFUSALS"
            except ApplyError as e:
                if KNOWN_REFUSALS.get(f.name, "\0") not in e.message:
                    failures.append(f"{f.relative_to(reference_dir)}: {e}")
    assert applied > 60
    assert not failures, "\n".join(failures)


def test_install_crds_on_a_running_plane(control_plane: ControlPlane, namespace: str) -> None:
    """The install path itself (the session plane may have come from an etcd snapshot)."""
    standin = standin_crds_for_stack("kubeflow-legacy")
    assert control_plane.install_crds(extra=standin) == ["pytorchjobs.kubeflow.org"]
    job = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
           "metadata": {"name": "legacy", "namespace": namespace},
           "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1}}}}
    assert control_plane.apply(job)["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1
    assert control_plane.delete(job) is True
    assert control_plane.delete(job) is False
