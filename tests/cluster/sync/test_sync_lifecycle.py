"""`kfconf sync` against a real kube-apiserver: create → update → prune, drift (correct / warn / off),
field-manager conflicts, ownership, empty sources, missing CRDs, staged CRD → CR apply, events, status.

Each test has its own namespace and GitOps repository; the syncer runs as `kfconf sync --once`.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from sync_helpers import GitOps, Sync, actions, cm, events, get_cm, names  # type: ignore[import-not-found]

from kfconf.cli.main import main
from kfconf.sync.kube import Kube
from kfconf.testing.controlplane import ControlPlane

pytestmark = pytest.mark.cluster


def test_create_update_prune(sync: Sync, gitops: GitOps, kube: Kube, namespace: str) -> None:
    sha = gitops.put([cm(namespace, "a"), cm(namespace, "b"), cm(namespace, "c")])
    code, report, _ = sync.json()
    assert code == 0
    assert report["revision"] == f"main@sha1:{sha}"
    assert actions(report) == {f"ConfigMap/{namespace}/{n}": "created" for n in "abc"}
    live = get_cm(kube, namespace, "a")
    assert live is not None
    labels, anns = live["metadata"]["labels"], live["metadata"]["annotations"]
    assert labels["app.kubernetes.io/managed-by"] == "kfconf" and labels["kfconf.dev/project"] == "demo"
    assert len(anns["kfconf.dev/content-hash"]) == 16
    assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["kfconf"]

    code, report, _ = sync.json()
    assert code == 0 and set(actions(report).values()) == {"unchanged"}

    gitops.put([cm(namespace, "a", {"v": "2"}), cm(namespace, "b"), cm(namespace, "d")])
    code, report, _ = sync.json()
    assert code == 0
    assert actions(report) == {f"ConfigMap/{namespace}/a": "configured", f"ConfigMap/{namespace}/b": "unchanged",
                               f"ConfigMap/{namespace}/c": "deleted", f"ConfigMap/{namespace}/d": "created"}
    assert names(kube, namespace) == {"a", "b", "d"}
    assert get_cm(kube, namespace, "a")["data"] == {"v": "2"}  # type: ignore[index]
    assert any(e["reason"] == "Pruned" for e in events(kube, namespace, "c"))


def test_drift_is_corrected_and_imperative_edits_are_taken_back(sync: Sync, gitops: GitOps, kube: Kube,
                                                              control_plane: ControlPlane, namespace: str) -> None:
    gitops.put([cm(namespace, "a", {"v": "1", "w": "1"}), cm(namespace, "b")])
    assert sync()[0] == 0
    control_plane.kubectl("-n", namespace, "patch", "configmap", "a", "-p", '{"data":{"v":"edited"}}')
    control_plane.kubectl("-n", namespace, "delete", "configmap", "b")
    code, report, _ = sync.json()
    assert code == 0
    got = {r["id"]: r for r in report["resources"]}
    assert got[f"ConfigMap/{namespace}/a"]["action"] == "corrected"
    assert got[f"ConfigMap/{namespace}/a"]["fields"] == [".data.v"]
    assert got[f"ConfigMap/{namespace}/b"]["action"] == "created"
    assert get_cm(kube, namespace, "a")["data"] == {"v": "1", "w": "1"}  # type: ignore[index]
    assert any(e["reason"] == "DriftCorrected" for e in events(kube, namespace, "a"))
    # a field nobody declared (added by hand) is not ours: not drift, left alone
    control_plane.kubectl("-n", namespace, "label", "configmap", "a", "team=blue")
    code, report, _ = sync.json()
    assert code == 0 and set(actions(report).values()) == {"unchanged"}
    assert get_cm(kube, namespace, "a")["metadata"]["labels"]["team"] == "blue"  # type: ignore[index]


def test_drift_only_reported_in_warn_mode_and_ignored_when_off(sync: Sync, gitops: GitOps, kube: Kube,
                                                               control_plane: ControlPlane, namespace: str) -> None:
    gitops.put([cm(namespace, "a")])
    assert sync()[0] == 0
    control_plane.kubectl("-n", namespace, "patch", "configmap", "a", "-p", '{"data":{"v":"edited"}}')
    code, report, err = sync.json("--drift", "warn")
    assert code == 1
    (entry,) = report["resources"]
    assert (entry["action"], entry["code"], entry["fields"]) == ("drifted", "KF608", [".data.v"])
    assert "warning[KF608]" in err
    assert get_cm(kube, namespace, "a")["data"] == {"v": "edited"}  # type: ignore[index]
    assert any(e["reason"] == "DriftDetected" and e["type"] == "Warning" for e in events(kube, namespace, "a"))

    code, report, _ = sync.json("--drift", "off")
    assert code == 0 and actions(report) == {f"ConfigMap/{namespace}/a": "unchanged"}
    assert get_cm(kube, namespace, "a")["data"] == {"v": "edited"}  # type: ignore[index]

    status = run_cli("status", "-n", namespace, "--kubeconfig", str(control_plane.admin_kubeconfig), "-o", "json")
    assert status[0] == 0  # the last reconcile (drift off) found nothing to report
    (proj,) = json.loads(status[1])
    assert (proj["project"], proj["environment"], proj["result"]) == ("demo", "base", "success")
    assert proj["resources"][0]["health"] == "Healthy"


def test_a_conflicting_field_manager_is_reported_not_clobbered(sync: Sync, gitops: GitOps, kube: Kube,
                                                              control_plane: ControlPlane, namespace: str) -> None:
    gitops.put([cm(namespace, "a")])
    assert sync()[0] == 0
    control_plane.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": namespace},
                         "data": {"v": "theirs"}}, field_manager="other-controller", force=True)
    code, report, err = sync.json()
    assert code == 1
    (entry,) = report["resources"]
    assert entry["action"] == "conflict" and entry["code"] == "KF605" and entry["fields"] == [".data.v"]
    assert "other-controller" in entry["message"] and "error[KF605]" in err
    assert get_cm(kube, namespace, "a")["data"] == {"v": "theirs"}  # type: ignore[index]
    assert any(e["reason"] == "FieldManagerConflict" for e in events(kube, namespace, "a"))

    # a change from git that touches their field conflicts too, and still does not overwrite it
    gitops.put([cm(namespace, "a", {"v": "mine-2"})])
    code, report, _ = sync.json()
    assert code == 1 and report["resources"][0]["action"] == "conflict"
    assert get_cm(kube, namespace, "a")["data"] == {"v": "theirs"}  # type: ignore[index]

    code, report, _ = sync.json("--force-conflicts")
    assert code == 0 and report["resources"][0]["action"] == "configured"
    assert get_cm(kube, namespace, "a")["data"] == {"v": "mine-2"}  # type: ignore[index]

    status = run_cli("status", "-n", namespace, "--kubeconfig", str(control_plane.admin_kubeconfig))
    assert status[0] == 0 and "configured" in status[1] and f"ConfigMap/{namespace}/a" in status[1]


def test_objects_the_syncer_does_not_own_are_never_deleted(sync: Sync, gitops: GitOps, kube: Kube,
                                                          control_plane: ControlPlane, namespace: str) -> None:
    # someone else's object with the name git wants: refused, untouched
    control_plane.apply(cm(namespace, "theirs", {"v": "keep"}, project=None), field_manager="someone")
    # an object labelled like ours but never applied by this syncer (not in its inventory)
    lookalike = cm(namespace, "lookalike")
    lookalike["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "kfconf"
    control_plane.apply(lookalike, field_manager="x")
    gitops.put([cm(namespace, "a"), cm(namespace, "b"), cm(namespace, "c"), cm(namespace, "theirs")])
    code, report, err = sync.json()
    assert code == 1 and "error[KF607]" in err
    assert actions(report)[f"ConfigMap/{namespace}/theirs"] == "refused"
    assert get_cm(kube, namespace, "theirs")["data"] == {"v": "keep"}  # type: ignore[index]

    # b: a person takes it over (removes our label); c: opted out of pruning
    control_plane.kubectl("-n", namespace, "label", "configmap", "b", "app.kubernetes.io/managed-by-")
    control_plane.kubectl("-n", namespace, "annotate", "configmap", "c", "kfconf.dev/prune=disabled")
    gitops.put([cm(namespace, "a")])
    code, report, _ = sync.json()
    got = actions(report)
    assert got[f"ConfigMap/{namespace}/b"] == "prune-skipped" and got[f"ConfigMap/{namespace}/c"] == "prune-skipped"
    assert names(kube, namespace) == {"a", "b", "c", "theirs", "lookalike"}
    assert any(e["reason"] == "PruneSkipped" for e in events(kube, namespace, "c"))
    assert code == 0  # skipping a prune on purpose is a warning, not a failure

    # nothing in git any more (but the folder exists): refuse to prune everything...
    gitops.put([])
    for flags in ((), ("--namespace", namespace), ("--namespace", namespace, "--project", "demo")):
        code, _, err = sync(*flags)
        assert code == 1 and "KF609" in err and names(kube, namespace) == {"a", "b", "c", "theirs", "lookalike"}
    # ...unless told so; and then still only what is ours: b and c left the inventory, theirs never joined
    code, _, err = sync("--allow-empty", "--namespace", namespace)
    assert code == 0, err
    assert names(kube, namespace) == {"b", "c", "theirs", "lookalike"}


def test_dry_run_says_what_would_change_and_changes_nothing(sync: Sync, gitops: GitOps, kube: Kube,
                                                            namespace: str) -> None:
    gitops.put([cm(namespace, "a"), cm(namespace, "b")])
    assert sync()[0] == 0
    before = {n: get_cm(kube, namespace, n)["metadata"]["resourceVersion"] for n in "ab"}  # type: ignore[index]
    gitops.put([cm(namespace, "a", {"v": "2"}), cm(namespace, "c")])
    code, report, _ = sync.json("--dry-run")
    assert code == 1  # like a diff: something would change
    got = {r["id"]: r for r in report["resources"]}
    assert (got[f"ConfigMap/{namespace}/a"]["action"], got[f"ConfigMap/{namespace}/a"]["fields"]) == \
        ("would-apply", [".data.v", ".metadata.annotations.kfconf.dev/content-hash"])
    assert got[f"ConfigMap/{namespace}/b"]["action"] == "would-delete"
    assert got[f"ConfigMap/{namespace}/c"]["message"] == "would create"
    assert names(kube, namespace) == {"a", "b"}
    assert {n: get_cm(kube, namespace, n)["metadata"]["resourceVersion"] for n in "ab"} == before  # type: ignore[index]
    assert sync()[0] == 0 and sync.json("--dry-run")[0] == 0  # applied: nothing left to do


def test_adopt_takes_over_an_existing_object(sync: Sync, gitops: GitOps, kube: Kube, control_plane: ControlPlane,
                                             namespace: str) -> None:
    control_plane.apply(cm(namespace, "legacy", {"v": "old"}, project=None), field_manager="kubectl")
    gitops.put([cm(namespace, "legacy", {"v": "new"})])
    assert sync()[0] == 1
    code, report, _ = sync.json("--adopt")
    assert code == 0 and actions(report) == {f"ConfigMap/{namespace}/legacy": "configured"}
    live = get_cm(kube, namespace, "legacy")
    assert live is not None and live["data"] == {"v": "new"}
    assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kfconf"
    gitops.put([cm(namespace, "other")])
    assert sync()[0] == 0 and names(kube, namespace) == {"other"}  # adopted, so pruned like its own


def test_a_namespace_nothing_creates_is_reported(sync: Sync, gitops: GitOps, namespace: str) -> None:
    ghost = f"{namespace}-ghost"
    gitops.put([cm(ghost, "a")])
    code, report, err = sync.json()
    assert code == 1 and "Traceback" not in err
    got = {r["id"]: r for r in report["resources"]}
    assert got[f"ConfigMap/{ghost}/a"]["code"] == "KF602"
    assert got[f"ConfigMap/{ghost}/a"]["message"] == \
        f"namespace {ghost} does not exist and nothing in the source creates it"
    assert f"cannot record the inventory: namespace {ghost} does not exist" in \
        got[f"ConfigMap/{ghost}/kfconf-inventory.demo.base"]["message"]


def test_wait_reports_what_never_became_healthy(sync: Sync, gitops: GitOps, namespace: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "j", "namespace": namespace, "labels": {"kfconf.dev/project": "demo"}},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "c", "image": "busybox"}]}}}}
    gitops.put([cm(namespace, "a")])
    code, report, _ = sync.json("--wait", "--timeout", "5s")
    assert code == 0 and report["resources"][0]["health"] == "Healthy"
    gitops.put([cm(namespace, "a"), job])
    code, report, _err = sync.json("--wait", "--timeout", "2s")  # no Job controller here: it never runs
    assert code == 1
    got = {r["id"]: r for r in report["resources"]}
    assert got[f"Job/{namespace}/j"]["health"] == "Progressing"
    assert got[f"Job/{namespace}/j"]["message"] == "Progressing: job is running (after waiting 2 s)"
    assert got[f"ConfigMap/{namespace}/a"]["action"] == "unchanged"


def test_a_missing_folder_prunes_nothing(sync: Sync, gitops: GitOps, kube: Kube, namespace: str) -> None:
    gitops.put([cm(namespace, "a")])
    assert sync()[0] == 0
    code, _, err = sync(folder="envs/typo")
    assert code == 1 and "does not exist" in err and names(kube, namespace) == {"a"}


def test_a_missing_crd_stops_before_anything_is_applied(sync: Sync, gitops: GitOps, kube: Kube,
                                                        namespace: str) -> None:
    widget = {"apiVersion": "widgets.example.com/v1", "kind": "Widget",
              "metadata": {"name": "w", "namespace": namespace, "labels": {"kfconf.dev/project": "demo"},
                           "annotations": {"kfconf.dev/stack": "kubeflow-latest"}}, "spec": {}}
    gitops.put([cm(namespace, "a"), widget])
    code, _, err = sync()
    assert code == 1
    assert "error[KF604]" in err and "Widget (widgets.example.com/v1)" in err and "kubeflow-latest" in err
    assert f"envs/prod/{namespace}/widget.w.yaml:1:1" in err
    assert names(kube, namespace) == set()


def test_staged_apply_waits_for_its_namespace_and_crd(sync: Sync, gitops: GitOps, kube: Kube,
                                                     control_plane: ControlPlane, namespace: str) -> None:
    group = f"{namespace}.example.com"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"gadgets.{group}", "labels": {"kfconf.dev/project": "demo"}},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {
                            "size": {"type": "integer"}}}}}}}]}}
    new_ns = f"{namespace}-new"
    objects = [crd,
               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": new_ns}},
               cm(new_ns, "cfg"),
               {"apiVersion": f"{group}/v1", "kind": "Gadget",
                "metadata": {"name": "g", "namespace": new_ns, "labels": {"kfconf.dev/project": "demo"}},
                "spec": {"size": 3}}]
    gitops.put(objects)
    code, report, err = sync.json("--namespace", new_ns)
    assert code == 0, err
    assert set(actions(report).values()) == {"created"} and len(report["resources"]) == 4
    gadget = kube.list(f"{group}/v1", "Gadget", new_ns)
    assert [g["spec"] for g in gadget] == [{"size": 3}]
    assert names(kube, new_ns) == {"cfg"}
    # strict field validation: an unknown field is refused by the server, the object reported as failed
    objects[3] = objects[3] | {"spec": {"size": 3, "colour": "red"}}
    gitops.put(objects)
    code, report, _ = sync.json("--namespace", new_ns)
    assert code == 1 and actions(report)[f"Gadget/{new_ns}/g"] == "failed"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
