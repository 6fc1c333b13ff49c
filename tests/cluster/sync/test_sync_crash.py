"""A syncer SIGKILLed half-way through an apply (`kfconf sync --once` as a real subprocess) and run again
converges: every object git wants exists once, nothing git dropped is left behind — even when git moved
on while the syncer was dead (the inventory records its intent before applying)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sync_helpers import GitOps, cm, names  # type: ignore[import-not-found]

from kfconf.sync import inventory as inv
from kfconf.sync.kube import Kube
from kfconf.testing.controlplane import ControlPlane

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[3]


def start_sync(cp: ControlPlane, gitops: GitOps, cache: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "kfconf.cli.main", "sync", "--once", "--repo", str(gitops.root),
            "--path", gitops.folder, "--cache-dir", str(cache), "--kubeconfig", str(cp.admin_kubeconfig), *extra]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def kill_mid_apply(proc: subprocess.Popen[str], kube: Kube, ns: str, prefix: str, low: int, high: int) -> int:
    """SIGKILL `proc` once between `low` and `high` objects named prefix* exist; returns how many did."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        n = sum(1 for name in names(kube, ns) if name.startswith(prefix))
        if low <= n < high:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return n
        time.sleep(0.01)
    _out, err = proc.communicate(timeout=30)
    raise AssertionError(f"never caught it mid-apply (exit {proc.returncode}): {err[-2000:]}")


def inventory_names(kube: Kube, ns: str) -> set[str]:
    got, _, _ = inv.load(kube, inv.inventory_name("demo", None), ns)
    return {r.name for r in got.refs()}


def test_killed_mid_apply_and_restarted_converges(control_plane: ControlPlane, gitops: GitOps, kube: Kube,
                                                  namespace: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old = [cm(namespace, f"old-{i:03d}") for i in range(50)]
    gitops.put(old)
    first = start_sync(control_plane, gitops, cache)
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""

    want = [cm(namespace, f"new-{i:03d}", {"i": str(i)}) for i in range(600)]
    gitops.put(want)
    proc = start_sync(control_plane, gitops, cache, "--concurrency", "1")
    made = kill_mid_apply(proc, kube, namespace, "new-", 40, 450)
    assert proc.returncode == -signal.SIGKILL
    # dead half-way: some new objects exist, the old ones were not pruned yet, the intent is recorded
    assert 40 <= made < 600
    assert {f"old-{i:03d}" for i in range(50)} <= names(kube, namespace)
    assert inventory_names(kube, namespace) == {o["metadata"]["name"] for o in old + want}

    again = start_sync(control_plane, gitops, cache)
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    assert names(kube, namespace) == {f"new-{i:03d}" for i in range(600)}
    assert inventory_names(kube, namespace) == {f"new-{i:03d}" for i in range(600)}
    assert all(kube.get(ref) is not None for ref in inv.load(kube, inv.inventory_name("demo", None),
                                                             namespace)[0].refs())
    assert "created" in out and "deleted" in out


def test_killed_then_git_moves_on_nothing_leaks(control_plane: ControlPlane, gitops: GitOps, kube: Kube,
                                                namespace: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    gitops.put([cm(namespace, f"b-{i:03d}") for i in range(600)])
    proc = start_sync(control_plane, gitops, cache, "--concurrency", "1")
    kill_mid_apply(proc, kube, namespace, "b-", 40, 450)
    assert proc.returncode == -signal.SIGKILL

    # while the syncer was dead, git dropped most of what it was applying
    final = [cm(namespace, f"b-{i:03d}") for i in range(0, 600, 10)] + [cm(namespace, f"c-{i}") for i in range(5)]
    gitops.put(final)
    again = start_sync(control_plane, gitops, cache)
    _, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    assert names(kube, namespace) == {o["metadata"]["name"] for o in final}
