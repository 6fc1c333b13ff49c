"""`kfconf sync` as a long-running process: polls git, heals drift on its own, serves /healthz, /readyz
and /metrics, turns unready when a round fails, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sync_helpers import GitOps, cm, get_cm, names, until  # type: ignore[import-not-found]

from kfconf.sync.kube import Kube
from kfconf.testing.controlplane import ControlPlane, free_port
from kfconf.testing.faults import fetch, metric

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[3]


def test_loop_heals_serves_health_and_metrics(control_plane: ControlPlane, gitops: GitOps, kube: Kube,
                                             namespace: str, tmp_path: Path) -> None:
    gitops.put([cm(namespace, "a"), cm(namespace, "b")])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfconf.cli.main", "sync", "--repo", str(gitops.root), "--path", gitops.folder,
         "--cache-dir", str(tmp_path / "cache"), "--kubeconfig", str(control_plane.admin_kubeconfig),
         "--interval", "1s", "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert until(lambda: fetch(f"{base}/healthz")[0] == 200, timeout=30)
        assert until(lambda: fetch(f"{base}/readyz")[0] == 200, timeout=30)
        assert names(kube, namespace) == {"a", "b"}
        _, text = fetch(f"{base}/metrics")
        assert (metric(text, 'kfconf_reconciles_total{result="success"}') or 0) >= 1
        assert (metric(text, "kfconf_last_success_timestamp_seconds") or 0) > 1e9
        assert metric(text, "kfconf_managed_resources") == 2
        assert 'kfconf_reconcile_duration_seconds_bucket{le="0.5",result="success"}' in text
        assert fetch(f"{base}/nope")[0] == 404

        # a new commit is picked up; drift is healed without anyone asking
        gitops.put([cm(namespace, "a"), cm(namespace, "b"), cm(namespace, "c")])
        assert until(lambda: "c" in names(kube, namespace), timeout=30)
        control_plane.kubectl("-n", namespace, "patch", "configmap", "a", "-p", '{"data":{"v":"edited"}}')
        assert until(lambda: get_cm(kube, namespace, "a")["data"] == {"v": "1"}, timeout=30)  # type: ignore[index]
        # the round that healed it records its metrics when it ends, a moment after the object changed
        assert until(lambda: (metric(fetch(f"{base}/metrics")[1],
                                     'kfconf_resources_applied_total{action="corrected"}') or 0) >= 1, timeout=30)

        # a round that fails (a conflict it must not clobber) makes it unready, and says why
        control_plane.apply(cm(namespace, "b", {"v": "theirs"}, project=None), field_manager="other", force=True)
        assert until(lambda: fetch(f"{base}/readyz")[0] == 503, timeout=30)
        assert "conflict" in fetch(f"{base}/readyz")[1]
        assert fetch(f"{base}/healthz")[0] == 200  # alive, just not in sync
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped" in err and f"127.0.0.1:{port}" in err
