"""`kfconf run` against running the same workload directly with the same engine (target: ≤ 10 % overhead).

Three workloads of a generated project (the churn example's scripts), each as a fresh process, kfconf and
its peer interleaved within each repetition, medians of the repetitions:

* Spark job — `kfconf run P data/features --force` against `python jobs/features.py …` with the same
  session settings given the PySpark way (PYSPARK_SUBMIT_ARGS: master local[2], loopback driver, no UI,
  4 shuffle partitions): kfconf runs PySpark in its own Python process exactly so. Without --quick a second,
  informational row compares with `spark-submit` of the same file (a different launcher: the JVM starts
  first and then the Python driver).
* torchrun training — `kfconf run P training/churn-model --force` (1 node × 2 processes, gloo) against
  `python -m torch.distributed.run --nproc-per-node 2 train.py …` with the same data and environment.
* Ray Tune search — `kfconf run P tuning/search --force` (Katib tpe → HyperOptSearch, 6 trials, 2 at a
  time, each trial a subprocess whose stdout carries `score=…`) against a plain Ray Tune script doing the
  same: ray.init(num_cpus=2), HyperOptSearch with the same seed, a function trainable that runs the trial
  script and reports the parsed metric, ray.shutdown().

The headline is wall-clock time: the engines' own processes (the Spark JVM, Ray's raylet and workers) are not
all children that the measured process waits for, so CPU accounting would miss different parts on the two
sides. CPU seconds of the measured process tree (what wait4 sees) are kept beside as `kfconf_cpu_s` /
`peer_cpu_s`. On a shared machine the JVM and Ray start-up dominate and vary by seconds between runs:
read `ratio_range` with the median.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from bench import harness

TARGET = "≤ 1.10"
ROWS = 20000

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: local-bench, owner: bench@example.com}
spec:
  profile: {namespace: bench}
  data:
    - name: features
      file: jobs/features.py
      args: [--rows, "ROWS", --out, features]
  training:
    - name: churn-model
      command: [python, train.py]
      args: {lr: 0.01, epochs: 5, batch-size: 64}
      procsPerNode: 2
      dataset: {uri: s3://bench/churn/features}
    - name: trial
      command: [python, trial.py]
      args: {x: 0.5, epochs: 4}
  tuning:
    - name: search
      trial: training/trial
      objective: {metric: score, goal: maximize}
      algorithm: {name: tpe, settings: {random_state: 7}}
      parameters:
        x: {type: double, min: 0.0, max: 1.0}
      budget: {trials: 6, parallel: 2, failures: 0}
"""

TRIAL = """\
import argparse, time
p = argparse.ArgumentParser(); p.add_argument("--x", type=float); p.add_argument("--epochs", type=int, default=4)
a = p.parse_args()
for e in range(1, a.epochs + 1):
    time.sleep(0.25)
    print(f"epoch={e} score={1 - (a.x - 0.3) ** 2 + 0.01 * e:.5f}", flush=True)
"""

DIRECT_TUNE = """\
import os, re, subprocess, sys
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
import ray
from ray import tune
from ray.tune.search.hyperopt import HyperOptSearch

HERE = os.path.dirname(os.path.abspath(__file__))
PAIR = re.compile(r"([\\w|-]+)\\s*=\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)")


def trial(config):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "trial.py"), "--x", str(config["x"]),
                          "--epochs", "4"], stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        m = {k: float(v) for k, v, *_ in PAIR.findall(line) if v}
        if "score" in m:
            tune.report(m)
    if p.wait() != 0:
        raise RuntimeError("trial failed")


ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
tuner = tune.Tuner(
    tune.with_resources(trial, {"cpu": 1.0}),
    param_space={"x": tune.uniform(0.0, 1.0)},
    tune_config=tune.TuneConfig(search_alg=HyperOptSearch(metric="score", mode="max", random_state_seed=7),
                                num_samples=6, max_concurrent_trials=2, reuse_actors=False),
    run_config=tune.RunConfig(storage_path=os.path.join(HERE, "ray-results"), verbose=0),
)
best = tuner.fit().get_best_result(metric="score", mode="max", scope="all")
print("best", best.config)
ray.shutdown()
"""


def _project(root: Path) -> Path:
    churn = harness.REPO / "examples" / "churn"
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    shutil.copy(churn / "jobs" / "features.py", root / "jobs" / "features.py")
    shutil.copy(churn / "train.py", root / "train.py")
    (root / "trial.py").write_text(TRIAL, encoding="utf-8")
    (root / "direct_tune.py").write_text(DIRECT_TUNE, encoding="utf-8")
    (root / "ml-project.yaml").write_text(SPEC.replace("ROWS", str(ROWS)), encoding="utf-8")
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SPARK_LOCAL_IP": "127.0.0.1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"})
    return env


def run(quick: bool) -> list[dict[str, Any]]:
    from kfconf.local.engines import free_port

    reps = 1 if quick else 3
    work = Path(tempfile.mkdtemp(prefix="kfconf-local-bench-"))
    try:
        root = _project(work / "project")
        env = _env()
        kfconf = [sys.executable, "-m", "kfconf.cli.main", "run", str(root)]
        spark_submit = Path(sys.executable).parent / "spark-submit"
        if not spark_submit.exists():
            import pyspark

            spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
        out = work / "direct"

        def k_spark() -> harness.Proc:
            return harness.run([*kfconf, "data/features", "--force", "--plain"], env=env)

        conf = ["--master", "local[2]", "--conf", "spark.ui.enabled=false", "--conf",
                "spark.ui.showConsoleProgress=false", "--conf", "spark.sql.shuffle.partitions=4", "--conf",
                "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1"]
        job = [str(root / "jobs" / "features.py"), "--rows", str(ROWS), "--out", str(out / "features")]
        penv = {**env, "PYSPARK_SUBMIT_ARGS": " ".join([*conf, "pyspark-shell"])}

        def p_spark() -> harness.Proc:
            return harness.run([sys.executable, *job], env=penv)

        def s_spark() -> harness.Proc:
            return harness.run([str(spark_submit), *conf, *job], env=env)

        rows: list[dict[str, Any]] = []
        k, p = harness.compare(k_spark, p_spark, reps)
        rows.append(_row("Spark job (20k rows, local[2])", k, "direct pyspark (python job.py, same session)", p))
        if not quick:
            k, p = harness.compare(k_spark, s_spark, reps)
            rows.append(_row("Spark job vs spark-submit (informational)", k, "spark-submit --master local[2]", p,
                             target="info"))

        # the training reads the features the Spark job wrote (kfconf resolves the dataset URI to them)
        dataset = next((root / ".kfconf" / "artifacts" / "data" / "features").glob("*/features"))
        tenv = {**env, "KFCONF_DATASET_DIR": str(dataset), "KFCONF_OUTPUT_DIR": str(out / "model"),
                "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}

        def k_train() -> harness.Proc:
            return harness.run([*kfconf, "training/churn-model", "--force", "--plain"], env=env)

        def p_train() -> harness.Proc:
            return harness.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                                "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "train.py",
                                "--lr", "0.01", "--epochs", "5", "--batch-size", "64"], cwd=root, env=tenv)

        k, p = harness.compare(k_train, p_train, reps)
        rows.append(_row("torchrun training (1 node × 2 procs, gloo)", k, "direct torchrun", p))

        def k_tune() -> harness.Proc:
            return harness.run([*kfconf, "tuning/search", "--force", "--plain"], env=env)

        def p_tune() -> harness.Proc:
            return harness.run([sys.executable, str(root / "direct_tune.py")], cwd=root, env=env)

        k, p = harness.compare(k_tune, p_tune, reps)
        rows.append(_row("Ray Tune search (tpe, 6 trials, 2 parallel)", k, "direct Ray Tune script", p))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _row(name: str, k: harness.Timing, peer: str, p: harness.Timing, target: str = TARGET) -> dict[str, Any]:
    kw, pw = k.wall_median, p.wall_median
    per = [a / b for a, b in zip(k.wall, p.wall, strict=True) if b > 0]
    return harness.row(
        name, kw, peer, pw, target, clock="wall", reps=len(k.wall),
        spread=_spread(k.wall), peer_spread=_spread(p.wall),
        ratio_range=(min(per), max(per)) if per else None,
        kfconf_cpu_s=k.median, peer_cpu_s=p.median,
        note=textwrap.shorten(f"wall seconds per rep: kfconf {_fmt(k.wall)}, peer {_fmt(p.wall)}", 200),
    )


def _spread(xs: tuple[float, ...]) -> float:
    import statistics

    m = statistics.median(xs)
    return (max(xs) - min(xs)) / m if m > 0 else 0.0


def _fmt(xs: tuple[float, ...]) -> str:
    return ", ".join(f"{x:.1f}" for x in xs)


if __name__ == "__main__":
    import json

    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
