"""The syncer under faults, against the real kube-apiserver and etcd (the session's plane):

* `kfconf sync --once` SIGKILLed 20 times at random delays while git moves on, then a final run converges;
* a sync loop lives through the API server restarted (SIGTERM) and crashing (SIGKILL) mid-apply;
* the git source gone (moved away, a bad URL): the last applied state stays, the failure is reported (exit
  code, /readyz, metrics, log), and the loop recovers when the source is back;
* another field manager owning a field git sets: reported (KF605, event, status), not clobbered.

The campaigns are kfconf.testing.faults; tools/faults.py runs them longer and prints the counts.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

from kfconf.cli.main import main
from kfconf.sync.kube import Kube
from kfconf.sync.objects import ObjRef
from kfconf.testing.controlplane import ControlPlane
from kfconf.testing.faults import (
    PROJECT,
    Loop,
    bare_repo,
    converged,
    desired,
    inventory_keys,
    ours,
    publish_objects,
    sync_kills,
    sync_restarts,
    until,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(control_plane: ControlPlane) -> Kube:
    return Kube(control_plane.admin_client(), field_manager="test-admin")


def kfconf(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_sync_sigkilled_twenty_times_then_converges(control_plane: ControlPlane, kube: Kube, namespace: str,
                                                     tmp_path: Path) -> None:
    res = sync_kills(control_plane, kube, namespace, tmp_path, kills=20, seed=20260509, objects=150)
    print(f"\nsync kills: {res.kills} SIGKILLs ({res.by_delay} after a random delay, {res.by_progress} at a random "
          f"point of the apply) in {res.seconds:.1f} s: {res.before_apply} before any write, {res.mid_apply} "
          f"mid-apply, {res.mid_prune} mid-prune, {res.after} after; objects unknown to the inventory after a "
          f"kill: {res.unknown_after_kill}; final run exit {res.final_exit}", file=sys.stderr)
    assert res.problems == []
    assert res.kills == 20 and res.final_exit == 0 and res.unknown_after_kill == 0
    assert res.mid_apply >= 5, res  # it really was caught writing, not only before or after


def test_the_convergence_check_sees_orphans_duplicates_and_stale_objects(kube: Kube, namespace: str) -> None:
    """`converged` must be able to fail: an object of ours that git does not have, one missing, one stale."""
    want = desired(namespace, 0, 6)
    assert len(converged(kube, namespace, want)) == 2  # nothing there yet: all missing, inventory differs
    for o in want:
        kube.apply({**o, "metadata": {**o["metadata"], "labels": {**o["metadata"]["labels"],
                                                                   "app.kubernetes.io/managed-by": "kfconf"}}})
    problems = converged(kube, namespace, want[1:])
    assert any("orphaned" in p and want[0]["metadata"]["name"] in p for p in problems), problems
    problems = converged(kube, namespace, [{**want[1], "data": {"round": "9"}}, *want[2:]])
    assert any("stale content" in p for p in problems), problems


def test_api_server_restarted_and_crashing_mid_sync(control_plane: ControlPlane, kube: Kube, namespace: str,
                                                   tmp_path: Path) -> None:
    res = sync_restarts(control_plane, kube, namespace, tmp_path, restarts=3, seed=7, objects=300)
    print(f"\napiserver restarts: {res.restarts} ({res.crashes} by SIGKILL) in {res.seconds:.1f} s, "
          f"{res.mid_apply} mid-apply; the loop recorded {res.failed_rounds} failed rounds, converged at most "
          f"{res.max_converge_s:.1f} s after the server was back, exited {res.loop_exit}", file=sys.stderr)
    assert res.problems == []
    assert res.restarts == 3 and res.loop_exit == 0
    assert res.mid_apply >= 1 and res.failed_rounds >= 1  # it really was caught mid-way, and noticed


def test_git_source_unreachable_keeps_the_last_state_reports_and_recovers(control_plane: ControlPlane, kube: Kube,
                                                                           namespace: str, tmp_path: Path) -> None:
    repo = bare_repo(tmp_path / "gitops.git")
    folder = "faults/prod"
    publish_objects(repo, folder, desired(namespace, 0, 40), 0)
    loop = Loop.start(control_plane, f"file://{repo}", folder, tmp_path / "cache")  # a URL: the cached clone path
    try:
        assert until(lambda: not converged(kube, namespace, desired(namespace, 0, 40)), timeout=60)
        before = {o["metadata"]["uid"]: o["metadata"]["resourceVersion"] for o in ours(kube, namespace)}
        inventory = sorted(inventory_keys(kube, namespace))

        moved = repo.rename(tmp_path / "elsewhere.git")
        errors = loop.errors()
        assert until(lambda: loop.errors() >= errors + 3, timeout=60), "the loop never noticed"
        code, why = loop.ready()
        assert code == 503 and "cannot fetch" in why, (code, why)
        # nothing deleted, nothing even touched, the inventory as it was
        assert {o["metadata"]["uid"]: o["metadata"]["resourceVersion"] for o in ours(kube, namespace)} == before
        assert sorted(inventory_keys(kube, namespace)) == inventory

        # one-shot runs against the missing path and a bad URL: exit 2, a message, no traceback, no change
        for bad, says in ((str(repo), "no such repository"), ("file:///nonexistent/gitops.git", "cannot fetch"),
                          ("https://127.0.0.1:9/gitops.git", "cannot fetch")):
            code, _out, err = kfconf("sync", "--once", "--repo", bad, "--path", folder, "--cache-dir",
                                     str(tmp_path / "cache1"), "--kubeconfig", str(control_plane.admin_kubeconfig))
            assert code == 2 and says in err and "Traceback" not in err, (bad, code, err)
        assert {o["metadata"]["uid"]: o["metadata"]["resourceVersion"] for o in ours(kube, namespace)} == before

        # the source comes back, and git has moved on meanwhile: the loop follows
        moved.rename(repo)
        publish_objects(repo, folder, desired(namespace, 1, 40), 1)
        assert until(lambda: not converged(kube, namespace, desired(namespace, 1, 40)), timeout=60), \
            converged(kube, namespace, desired(namespace, 1, 40))
        assert until(lambda: loop.ready()[0] == 200, timeout=30)
    finally:
        code, err = loop.stop()
    assert code == 0 and "Traceback" not in err, err
    assert "cannot fetch" in err  # the log says what happened


def test_a_conflicting_field_manager_is_reported_not_clobbered(control_plane: ControlPlane, kube: Kube,
                                                              namespace: str, tmp_path: Path) -> None:
    repo = bare_repo(tmp_path / "gitops.git")
    want = desired(namespace, 0, 5)
    publish_objects(repo, "faults/prod", want, 0)
    args = ("sync", "--once", "--repo", str(repo), "--path", "faults/prod", "--cache-dir", str(tmp_path / "c"),
            "--kubeconfig", str(control_plane.admin_kubeconfig), "-o", "json")
    code, _, err = kfconf(*args)
    assert code == 0, err
    # another controller takes over data.round of one object with its own value (server-side apply, force)
    victim = want[0]["metadata"]["name"]
    control_plane.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": victim, "namespace": namespace},
                         "data": {"round": "theirs"}}, field_manager="platform-team", force=True)
    for _ in range(2):  # and it stays that way round after round, until git or the other owner settles it
        code, out, err = kfconf(*args)
        assert code == 1 and "error[KF605]" in err and "platform-team" in err, err
        report = {r["id"]: r for r in json.loads(out)["resources"]}
        assert report[f"ConfigMap/{namespace}/{victim}"]["action"] == "conflict"
        assert {r["action"] for i, r in report.items() if victim not in i} == {"unchanged"}
        live = kube.get(ObjRef("", "ConfigMap", namespace, victim, "v1"))
        assert live is not None and live["data"]["round"] == "theirs"  # not clobbered
    reasons = [e["reason"] for e in kube.list("v1", "Event", namespace) if e["involvedObject"]["name"] == victim]
    assert "FieldManagerConflict" in reasons
    code, out, _ = kfconf("status", "-n", namespace, "--project", PROJECT, "--kubeconfig",
                          str(control_plane.admin_kubeconfig), "-o", "json")
    status = json.loads(out)[0]
    assert code == 1 and status["ok"] is False
    assert {r["id"]: r["lastAction"] for r in status["resources"]}[f"ConfigMap/{namespace}/{victim}"] == "conflict"
