"""Each component with its real engine on tiny data: Spark jobs in the shared session, torchrun with gloo
on 127.0.0.1, Ray Tune trials reading Katib's StdOut format, the registry, and the DAG runner."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.local.conftest import run, write_project

pytestmark = pytest.mark.local


# -- data: pyspark in the shared session ---------------------------------------------------------------
SPARK_JOBS = {
    "jobs/agg.py": """\
        import argparse, os
        from pyspark.sql import SparkSession, functions as F
        p = argparse.ArgumentParser(); p.add_argument("--n", type=int); p.add_argument("--out")
        a = p.parse_args()
        spark = SparkSession.builder.getOrCreate()
        print("partitions=" + spark.conf.get("spark.sql.shuffle.partitions"))
        df = spark.range(a.n).groupBy((F.col("id") % 3).alias("k")).count()
        df.write.mode("overwrite").parquet(os.path.join(os.environ["KFCONF_OUTPUT_DIR"], a.out))
        print(f"rows={df.count()} date={os.environ.get('RUN_DATE')}")
        spark.stop()  # the shared session outlives this
    """,
    "jobs/bad.py": "import sys\nprint('giving up')\nsys.exit(3)\n",
    "jobs/boom.py": "raise ValueError('no such column: churn')\n",
}


def test_spark_jobs_run_in_one_shared_session_and_failures_block_dependents(tmp_path: Path, spark: Any) -> None:
    write_project(tmp_path, """
        images: {py: docker.io/library/python:3.11}
        data:
          - name: agg
            file: jobs/agg.py
            args: [--n, "100", --out, counts]
            conf: {spark.sql.shuffle.partitions: 3}
            env: {RUN_DATE: "{{ run.date }}"}
          - {name: bad, file: jobs/bad.py}
          - {name: boom, file: jobs/boom.py}
        pipelines:
          - name: p
            steps:
              - {name: agg, run: data/agg}
              - {name: bad, run: data/bad}
              - {name: boom, run: data/boom}
              - {name: after-bad, after: [bad], container: {image: py, command: [python, -c, "print(1)"]}}
              - {name: after-agg, after: [agg], container: {image: py, command: [python, -c, "print(2)"]}}
    """, SPARK_JOBS)
    ran = run(tmp_path, "pipelines/p")
    o = ran.outcomes
    assert o["agg"].status == "done"
    assert list((o["agg"].output_dir / "counts").glob("*.parquet"))
    assert "partitions=3" in ran.log("agg") and "rows=3" in ran.log("agg")
    assert "date={{" not in ran.log("agg")
    assert o["bad"].status == "failed" and "exited with 3" in o["bad"].message and "giving up" in ran.log("bad")
    assert o["boom"].status == "failed" and "ValueError: no such column: churn" in o["boom"].message
    assert "Traceback" in ran.log("boom")
    assert o["after-bad"].status == "blocked" and "bad failed" in o["after-bad"].message
    assert o["after-agg"].status == "done"  # an independent branch goes on
    assert not ran.report.ok
    assert spark.range(5).count() == 5  # the job's spark.stop() did not stop the shared session
    doc = json.loads((ran.report.run.path / "run.json").read_text())
    assert doc["status"] == "failed" and doc["steps"]["bad"]["status"] == "failed"


# -- training: torchrun, gloo on 127.0.0.1 ------------------------------------------------------------
DDP = """\
    import json, os, sys
    import torch, torch.distributed as dist
    keys = ["PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT", "RANK",
            "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "GLOO_SOCKET_IFNAME", "OMP_NUM_THREADS", "KFCONF_OUTPUT_DIR",
            "KFCONF_DATASET_DIR", "SCRATCH"]
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    t = torch.tensor([rank + 1.0])
    dist.all_reduce(t)
    out = os.environ["KFCONF_OUTPUT_DIR"]
    data = open(os.path.join(os.environ["KFCONF_DATASET_DIR"], "rows.txt")).read().split()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
        json.dump({"env": {k: os.environ.get(k) for k in keys}, "argv": sys.argv[1:], "sum": t.item(),
                   "rows": len(data)}, fh)
    if rank == 0:
        print(f"epoch=1 sum={t.item()} rows={len(data)}", flush=True)
        print("token=" + os.environ.get("TOKEN", "missing"), flush=True)
    dist.destroy_process_group()
"""


def test_torchrun_nodes_and_processes_get_the_trainer_environment(tmp_path: Path) -> None:
    write_project(tmp_path, """
        training:
          - name: procs
            command: [python, ddp.py]
            args: {lr: 0.01, out: /workspace/output/x}
            procsPerNode: 2
            dataset: {uri: "hf://acme/rows"}
            env:
              TOKEN: {secret: tok, key: value}
              SCRATCH: /scratch/tmp
            volumes: [{name: scratch, mountPath: /scratch, emptyDir: true}]
          - name: nodes
            command: [python, ddp.py]
            nodes: 2
            dataset: {uri: "hf://acme/rows"}
        pipelines:
          - name: both
            steps: [{name: procs, run: training/procs}, {name: nodes, run: training/nodes}]
    """, {"ddp.py": DDP, ".kfconf/cache/hf/acme/rows/rows.txt": "a b c d\n",
          ".kfconf/secrets.yaml": "tok:\n  value: sup3r-secret\n"})
    ran = run(tmp_path, "pipelines/both")
    assert ran.report.ok, ran.text
    procs = ran.outcomes["procs"].output_dir
    r0 = json.loads((procs / "rank0.json").read_text())
    r1 = json.loads((procs / "rank1.json").read_text())
    env = r0["env"]
    assert (env["PET_NNODES"], env["PET_NPROC_PER_NODE"], env["PET_NODE_RANK"]) == ("1", "2", "0")
    assert env["PET_MASTER_ADDR"] == env["MASTER_ADDR"] == "127.0.0.1" and env["PET_MASTER_PORT"].isdigit()
    assert (env["WORLD_SIZE"], r1["env"]["RANK"], env["GLOO_SOCKET_IFNAME"], env["OMP_NUM_THREADS"]) == (
        "2", "1", "lo", "1")
    assert r0["sum"] == 3.0 and r0["rows"] == 4
    assert r0["argv"][:2] == ["--lr", "0.01"]
    assert Path(r0["argv"][3]).resolve() == (procs / "x").resolve()  # /workspace/output/x, mapped
    assert env["SCRATCH"].endswith("/volumes/scratch/tmp")  # the emptyDir mount, mapped
    log = ran.log("procs")
    assert "token=***" in log and "sup3r-secret" not in log
    assert "sup3r-secret" not in ran.text and "epoch 1" in ran.text
    nodes = ran.outcomes["nodes"].output_dir
    n1 = json.loads((nodes / "rank1.json").read_text())["env"]
    assert (n1["PET_NNODES"], n1["PET_NPROC_PER_NODE"], n1["PET_NODE_RANK"], n1["RANK"]) == ("2", "1", "1", "1")
    assert json.loads((nodes / "rank0.json").read_text())["sum"] == 3.0


# -- tuning: Ray Tune ----------------------------------------------------------------------------------
TRIAL = """\
    import argparse, os, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float, default=0.5); p.add_argument("--k", default="a")
    p.add_argument("--epochs", type=int, default=3); p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--metrics", default=None)
    a = p.parse_args()
    if a.k == "fail":
        time.sleep(3)  # after the other trial finished
        sys.exit("this trial fails on purpose")
    out = open(a.metrics, "a") if a.metrics else sys.stdout
    for e in range(1, a.epochs + 1):
        time.sleep(a.sleep)
        score = 1 - (a.x - 0.3) ** 2 + 0.01 * e - (0.5 if a.k == "bad" else 0.0)
        print(f"epoch={e} score={score:.5f} other=1", file=out, flush=True)
    open(os.path.join(os.environ["KFCONF_OUTPUT_DIR"], "model.txt"), "w").write(str(a.x))
"""


def test_tuning_reaches_its_goal_and_records_the_best_trial(tmp_path: Path, ray_rt: Any) -> None:
    write_project(tmp_path, """
        training:
          - name: t
            command: [python, trial.py]
            args: {x: 0.5, k: a, epochs: 3}
        tuning:
          - name: hpo
            trial: training/t
            objective: {metric: score, goal: maximize, target: 0.95}
            algorithm: {name: multivariate-tpe, settings: {random_state: 3, n_startup_trials: 2}}
            parameters:
              x: {type: double, min: 0.25, max: 0.35}
              k: {type: categorical, values: [a]}
            budget: {trials: 30, parallel: 2, failures: 0}
    """, {"trial.py": TRIAL})
    ran = run(tmp_path, "tuning/hpo")
    out = ran.outcomes["hpo"]
    assert out.status == "done", ran.text
    assert out.outputs["goalReached"] is True
    assert out.outputs["trials"] < 30  # stopped at the goal, long before the budget
    best = json.loads((ran.report.run.path / "hpo" / "best-trial.json").read_text())
    assert best["objective"] >= 0.95 and 0.25 <= best["parameters"]["x"] <= 0.35
    assert Path(best["outputDir"], "model.txt").is_file()
    trials = json.loads((ran.report.run.path / "hpo" / "trials.json").read_text())
    assert trials["algorithm"] == "multivariate-tpe" and trials["best"] == best
    assert "reached the goal score=0.95" in ran.text
    assert best["status"] == "succeeded"  # the trial that met the goal ran to its end


def test_failed_trials_beyond_the_budget_fail_the_experiment(tmp_path: Path, ray_rt: Any) -> None:
    write_project(tmp_path, """
        training:
          - name: t
            command: [python, trial.py]
            args: [--metrics, /var/log/katib/metrics.log, --k, "${trialParameters.k}"]
        tuning:
          - name: grid
            trial: training/t
            objective: {metric: score, goal: maximize}
            algorithm: {name: grid}
            parameters:
              k: {type: categorical, values: [a, fail]}
            budget: {trials: 2, parallel: 2, failures: 0}
            metricsCollector: {kind: file, path: /var/log/katib/metrics.log}
    """, {"trial.py": TRIAL})
    ran = run(tmp_path, "tuning/grid")
    out = ran.outcomes["grid"]
    assert out.status == "failed"
    assert "1 trial(s) failed, more than budget.failures=0" in out.message
    assert "best so far score=0.99 (k=a)" in out.message  # the other grid point, read from the metrics file
    trials = json.loads((ran.report.run.path / "grid" / "trials.json").read_text())
    statuses = sorted((t["parameters"]["k"], t["status"]) for t in trials["trials"])
    assert statuses == [("a", "succeeded"), ("fail", "failed")]
    failed = next(t for t in trials["trials"] if t["status"] == "failed")
    assert "this trial fails on purpose" in Path(failed["log"]).read_text()


def test_median_stopping_stops_poor_trials_and_their_processes(tmp_path: Path, ray_rt: Any) -> None:
    import psutil

    write_project(tmp_path, """
        training:
          - name: t
            command: [python, trial.py]
            args: {x: 0.3, k: a, epochs: 8, sleep: 0.4}
        tuning:
          - name: hpo
            trial: training/t
            objective: {metric: score, goal: maximize}
            algorithm: {name: grid}
            parameters:
              k: {type: categorical, values: [a, a, bad, bad]}
            budget: {trials: 4, parallel: 2, failures: 0}
            earlyStopping: {name: medianstop, settings: {min_trials_required: 2, start_step: 2}}
    """, {"trial.py": TRIAL})
    ran = run(tmp_path, "tuning/hpo")
    assert ran.outcomes["hpo"].status == "done", ran.text
    trials = json.loads((ran.report.run.path / "hpo" / "trials.json").read_text())["trials"]
    bad = [t for t in trials if t["parameters"]["k"] == "bad"]
    assert [t["status"] for t in bad] == ["early-stopped", "early-stopped"]
    assert all(t["reports"] < 8 for t in bad)
    time.sleep(1.0)
    for t in trials:  # no trial process outlives its trial
        pids = json.loads((ran.report.run.path / "hpo" / "trials" / t["id"] / "pids.json").read_text())
        for pid, created in pids:
            alive = psutil.pid_exists(pid) and abs(psutil.Process(pid).create_time() - created) < 0.01
            assert not alive or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


# -- pipelines: DAG, cache, container steps, artifacts between steps -----------------------------------
def test_dag_runs_independent_steps_in_parallel_passes_outputs_and_skips_unchanged(tmp_path: Path) -> None:
    sleep = "import time, os; time.sleep(1.5); open(os.environ['KFCONF_OUTPUT_DIR'] + '/o', 'w').write('{}')"
    read = ("import os; print('got', open(os.environ['KFCONF_INPUT_A'] + '/o').read(), "
            "open(os.environ['KFCONF_INPUT_B'] + '/o').read())")
    write_project(tmp_path, f"""
        images: {{py: docker.io/library/python:3.11}}
        pipelines:
          - name: p
            default: true
            steps:
              - {{name: a, container: {{image: py, command: [python, -c, "{sleep.format('A')}"]}}}}
              - {{name: b, container: {{image: py, command: [python, -c, "{sleep.format('B')}"]}}}}
              - {{name: c, after: [a, b], container: {{image: py, command: [python, -c, "{read}"]}}}}
              - {{name: d, after: [c], container: {{image: ghcr.io/acme/mytool:1, command: [no-such-tool-here, x]}}}}
              - {{name: e, after: [d], container: {{image: docker.io/library/alpine:3}}}}
    """)
    t0 = time.time()
    ran = run(tmp_path, max_cores=2)
    took = time.time() - t0
    o = ran.outcomes
    assert [o[s].status for s in "abcde"] == ["done", "done", "done", "skipped", "skipped"]
    assert took < 2 * 1.5 + 2.5  # a and b overlapped
    assert abs(o["a"].seconds - o["b"].seconds) < 1.0
    assert "got A B" in ran.log("c")
    assert "not installed here" in o["d"].message and "entrypoint needs a container engine" in o["e"].message
    assert "image docker.io/library/python:3.11 not used (no container engine)" in ran.log("a")
    again = run(tmp_path)  # nothing changed: every cacheable step is skipped
    assert [again.outcomes[s].status for s in "abc"] == ["cached", "cached", "cached"]
    assert again.outcomes["c"].output_dir == o["c"].output_dir
    forced = run(tmp_path, use_cache=False)
    assert forced.outcomes["a"].status == "done"


def test_changed_input_reruns_the_step_and_what_follows(tmp_path: Path) -> None:
    write_project(tmp_path, """
        images: {py: docker.io/library/python:3.11}
        training:
          - name: t
            command: [python, t.py]
        pipelines:
          - name: p
            steps:
              - {name: train, run: training/t}
              - {name: after, after: [train], container: {image: py, command: [python, -c, "print(1)"]}}
    """, {"t.py": "print('epoch=1 v=1')\n"})
    assert [s.status for s in run(tmp_path, "pipelines/p").outcomes.values()] == ["done", "done"]
    assert [s.status for s in run(tmp_path, "pipelines/p").outcomes.values()] == ["cached", "cached"]
    (tmp_path / "t.py").write_text("print('epoch=1 v=2')\n")
    ran = run(tmp_path, "pipelines/p")
    assert ran.outcomes["train"].status == "done" and ran.outcomes["after"].status == "done"
    assert ran.outcomes["train"].outputs["metrics"] == {"epoch": 1.0, "v": 2.0}


def test_registry_step_registers_the_training_output(tmp_path: Path) -> None:
    from kfconf.local.registry import RegistryStore

    write_project(tmp_path, """
        training:
          - name: t
            command: [python, t.py]
        registry:
          - {name: m, from: training/t, version: v2, format: {name: sklearn, version: "1"}, metadata: {team: a}}
        pipelines:
          - name: p
            steps: [{name: train, run: training/t}, {name: reg, run: registry/m, after: [train]}]
    """, {"t.py": "import os; open(os.environ['KFCONF_OUTPUT_DIR'] + '/model.joblib', 'w').write('x')\n"})
    ran = run(tmp_path, "pipelines/p")
    assert ran.outcomes["reg"].status == "done", ran.text
    ver = RegistryStore.for_project(tmp_path).version("m", "v2")
    assert ver is not None and ver["registeredModel"]["owner"] == "a@example.com"
    art = ver["artifacts"][0]
    assert art["uri"] == ran.outcomes["train"].output_dir.resolve().as_uri()
    assert (art["modelFormatName"], art["modelFormatVersion"]) == ("sklearn", "1")
    assert ver["customProperties"]["kfconf.source"]["string_value"] == "training/t"
    again = run(tmp_path, "registry/m")
    assert "m v2 unchanged" in again.outcomes["m"].outputs["summary"]
