"""The local model server: KServe V1 and Open Inference Protocol V2 on 127.0.0.1, run by `kfconf run
serving/NAME`, which stays up until SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kfconf.local.engines import free_port
from tests.local.conftest import write_project

pytestmark = pytest.mark.local


def http(method: str, url: str, doc: Any = None) -> tuple[int, Any]:
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


class Served:
    def __init__(self, proc: subprocess.Popen[str], urls: list[str], root: Path) -> None:
        self.proc, self.urls, self.root = proc, urls, root

    def run_doc(self) -> dict[str, Any]:
        runs = sorted((self.root / ".kfconf" / "runs").iterdir())
        return json.loads((runs[-1] / "run.json").read_text())


def serve(root: Path, target: str, *args: str, count: int = 1) -> Iterator[Served]:
    """`kfconf run ROOT TARGET` as a user runs it; yields once `count` URLs are printed; SIGTERM after."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kfconf.cli.main", "run", str(root), target, "--plain", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    urls: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.time() + 240
        while len(urls) < count and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            urls.append(line.strip())
        if len(urls) < count:
            proc.kill()
            raise AssertionError(f"no URL printed:\n{proc.stderr.read() if proc.stderr else ''}")
        yield Served(proc, urls, root)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def listening_addresses(pid: int) -> set[str]:
    import psutil

    proc = psutil.Process(pid)
    conns = (getattr(proc, "net_connections", None) or proc.connections)(kind="tcp")
    return {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}


def test_sklearn_model_answers_v1_and_v2_on_loopback_until_sigterm(tmp_path: Path) -> None:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    (tmp_path / "models" / "sk").mkdir(parents=True)
    joblib.dump(model, tmp_path / "models" / "sk" / "model.joblib")
    write_project(tmp_path / "p", f"""
        serving:
          - name: churn-sk
            model: file://{tmp_path}/models/sk
            format: sklearn
            protocol: v1
    """)
    port = free_port()
    for s in serve(tmp_path / "p", "serving/churn-sk", "--port", str(port)):
        base = f"http://127.0.0.1:{port}"
        assert s.urls == [f"{base}/v2/models/churn-sk"]
        assert http("GET", f"{base}/v2/health/live") == (200, {"live": True})
        assert http("GET", f"{base}/v2/health/ready") == (200, {"ready": True})
        assert http("GET", f"{base}/v1/models/churn-sk") == (200, {"name": "churn-sk", "ready": True})
        code, meta = http("GET", f"{base}/v2/models/churn-sk")
        assert code == 200 and meta["name"] == "churn-sk"
        rows = x[:4].round(3).tolist()
        code, v1 = http("POST", f"{base}/v1/models/churn-sk:predict", {"instances": rows})
        assert code == 200 and v1 == {"predictions": model.predict(np.array(rows)).tolist()}
        code, v2 = http("POST", f"{base}/v2/models/churn-sk/infer", {"inputs": [
            {"name": "x", "shape": [4, 3], "datatype": "FP64", "data": [v for r in rows for v in r]}]})
        assert code == 200 and v2["model_name"] == "churn-sk"
        assert v2["outputs"][0]["data"] == model.predict(np.array(rows)).tolist()
        code, _ = http("POST", f"{base}/v1/models/nope:predict", {"instances": rows})
        assert code == 404
        server_pid = s.run_doc()["servers"][0]["pid"]
        assert listening_addresses(server_pid) == {"127.0.0.1"}  # never 0.0.0.0, and no gRPC port
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(30) == 0
        assert "stopped" in (s.proc.stderr.read() if s.proc.stderr else "")
        import psutil

        assert not psutil.pid_exists(server_pid) or psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE


def test_a_model_that_cannot_be_served_fails_the_step_clearly(tmp_path: Path) -> None:
    from tests.local.conftest import run

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.bin").write_bytes(b"\0")
    write_project(tmp_path / "p", f"""
        serving:
          - {{name: x, model: "file://{tmp_path}/m", format: xgboost}}
    """)
    ran = run(tmp_path / "p", "serving/x")
    out = ran.outcomes["x"]
    assert out.status == "failed" and "model format 'xgboost' has no local server" in out.message
    assert not ran.report.servers or all(s.proc.poll() is not None for s in ran.report.servers)
