"""`--ray-address` and `--spark-master` against a real Ray head and a real Spark standalone cluster, both
started here on 127.0.0.1 and stopped by their process ids. Marked slow (~30-40 s each: two JVMs, a Ray
head); the address pass-through itself is covered quickly in test_units.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfconf.local.engines import free_port
from tests.local.conftest import write_project
from tests.local.test_engines import SPARK_JOBS, TRIAL

pytestmark = [pytest.mark.local, pytest.mark.slow]

BIN = Path(sys.executable).parent


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited {proc.returncode}:\n{path.read_text(errors='replace')}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {text!r} in {path}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import psutil

    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        kids = []
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _, alive = psutil.wait_procs(kids, timeout=10)
    for k in alive:
        k.kill()


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "ray-head.log"
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(BIN / "ray"), "start", "--head", f"--port={port}", "--num-cpus=2",
                                 "--include-dashboard=false", "--node-ip-address=127.0.0.1", "--block"],
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for(log, "Ray runtime started", proc)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)
        # `ray start` records its cluster for later ray.init() calls on this machine: forget ours
        current = Path("/tmp/ray/ray_current_cluster")
        if current.is_file() and current.read_text().strip() == f"127.0.0.1:{port}":
            current.unlink()


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[str]:
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    port = free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1",
           "SPARK_WORKER_DIR": str(tmp_path / "work"), "SPARK_LOCAL_DIRS": str(tmp_path / "local"),
           "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false"}
    procs = []
    try:
        mlog = tmp_path / "master.log"
        with open(mlog, "wb") as fh:
            procs.append(subprocess.Popen([str(spark_class), "org.apache.spark.deploy.master.Master", "--host",
                                           "127.0.0.1", "--port", str(port), "--webui-port", "0"],
                                          stdout=fh, stderr=subprocess.STDOUT, env=env))
        _wait_for(mlog, "I have been elected leader", procs[0])
        wlog = tmp_path / "worker.log"
        with open(wlog, "wb") as fh:
            procs.append(subprocess.Popen([str(spark_class), "org.apache.spark.deploy.worker.Worker",
                                           f"spark://127.0.0.1:{port}", "--host", "127.0.0.1", "--webui-port", "0",
                                           "--cores", "2", "--memory", "1g"],
                                          stdout=fh, stderr=subprocess.STDOUT, env=env))
        _wait_for(wlog, "Successfully registered with master", procs[1])
        yield f"spark://127.0.0.1:{port}"
    finally:
        for p in reversed(procs):
            _stop(p)


def _kfconf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kfconf.cli.main", "run", *args, "--plain"], capture_output=True,
                          text=True, timeout=600)


def test_tuning_runs_on_an_existing_ray_cluster(tmp_path: Path, ray_head: str) -> None:
    write_project(tmp_path / "p", """
        training:
          - {name: t, command: [python, trial.py], args: {x: 0.5, k: a}}
        tuning:
          - name: hpo
            trial: training/t
            objective: {metric: score, goal: maximize}
            algorithm: {name: random, settings: {random_state: 1}}
            parameters: {x: {type: double, min: 0.0, max: 1.0}}
            budget: {trials: 2, parallel: 2, failures: 0}
    """, {"trial.py": TRIAL})
    done = _kfconf(str(tmp_path / "p"), "tuning/hpo", "--ray-address", ray_head)
    assert done.returncode == 0, done.stderr
    assert "trial 2/2 succeeded" in done.stderr
    assert (tmp_path / "ray-head.log").exists()


def test_data_job_runs_on_a_spark_standalone_cluster(tmp_path: Path, spark_cluster: str) -> None:
    write_project(tmp_path / "p", """
        data:
          - {name: agg, file: jobs/agg.py, args: [--n, "50", --out, counts]}
    """, SPARK_JOBS)
    done = _kfconf(str(tmp_path / "p"), "data/agg", "--spark-master", spark_cluster)
    assert done.returncode == 0, done.stderr
    log = next((tmp_path / "p" / ".kfconf" / "runs").glob("*/agg.log")).read_text()
    assert f"spark master {spark_cluster}" in log and "rows=3" in log
    assert list((tmp_path / "work").glob("app-*"))  # the executor ran in the standalone worker
