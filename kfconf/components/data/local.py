"""Run a Spark data job locally: the job's file runs in-process against the run's shared Spark session.

The session is `local[2]` on 127.0.0.1 with no UI (or `--spark-master`). The file runs with `runpy` as
`__main__` with `sys.argv = [file, *args]`, so `SparkSession.builder.getOrCreate()` in the job returns the
shared session; a `spark.stop()` in the job is ignored until the run ends. Data jobs run one at a time
(they share the session, `sys.argv` and the environment); their output goes to the artifact store folder in
`KFCONF_OUTPUT_DIR`. The entry's driver/executor sizes do not apply to a local session; `conf` keys that
can be set on a running session are set, the others are reported and ignored.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kfconf.components.data.spec import DataJob
from kfconf.core.errors import Diagnostic
from kfconf.local.artifacts import hash_tree
from kfconf.local.context import Outcome, RunSession, StepFailed, StepRun
from kfconf.local.env import PathMap, expand, fmt_value
from kfconf.local.procs import route_stdio


def _file(session: RunSession, job: DataJob) -> Path:
    p = Path(job.file)
    if p.is_absolute() and str(p).startswith(session.image_workdir.rstrip("/") + "/"):
        p = Path(str(p)[len(session.image_workdir.rstrip("/")) + 1:])
    return p if p.is_absolute() else session.source_dir / p


def preflight(session: RunSession, job: DataJob) -> Iterable[Diagnostic]:
    ref = f"data/{job.name}"
    if job.engine != "spark":
        yield session.diag("KF702", f"engine {job.engine!r} has no local runner", ref, "engine")
    f = _file(session, job)
    if not f.is_file():
        yield session.diag("KF210", f"the job's file {job.file} does not exist ({f})", ref, "file")


def fingerprint(session: RunSession, job: DataJob, produced: Mapping[str, Path]) -> dict[str, Any]:
    f = _file(session, job)
    files = {str(job.file): hash_tree(f)}
    for a in job.args:
        p = session.source_dir / str(a)
        if isinstance(a, str) and a and p.is_file():
            files[a] = hash_tree(p)
    return {"files": files, "master": session.engines.master}


@contextlib.contextmanager
def _patched_process(argv: list[str], env: Mapping[str, str], cwd_path: Path) -> Iterator[None]:
    """sys.argv, os.environ and sys.path for the job; restored afterwards (callers hold the Spark lock)."""
    from pyspark.sql import SparkSession

    old_argv, old_env, old_path = sys.argv, dict(os.environ), list(sys.path)
    old_stop = SparkSession.stop
    sys.argv = argv
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(cwd_path))
    SparkSession.stop = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        SparkSession.stop = old_stop  # type: ignore[method-assign]
        sys.argv = old_argv
        os.environ.clear()
        os.environ.update(old_env)
        sys.path[:] = old_path


def _watch_stages(spark: Any, step: StepRun, stop: threading.Event) -> None:
    sc = spark.sparkContext
    while not stop.wait(1.0):
        try:
            tracker = sc.statusTracker()
            parts = []
            for sid in tracker.getActiveStageIds():
                info = tracker.getStageInfo(sid)
                if info is not None:
                    parts.append(f"stage {sid}: {info.numCompletedTasks}/{info.numTasks} tasks")
            if parts:
                step.detail(" · ".join(parts[:2]))
        except Exception:
            return


def run(step: StepRun, job: DataJob) -> Outcome:
    session = step.session
    f = _file(session, job)
    if not f.is_file():
        raise StepFailed(f"the job's file {job.file} does not exist")
    pm = PathMap()
    pm.add(session.image_workdir, session.source_dir)
    if job.output:  # the job's storage URI is its local output folder
        pm.add(job.output, step.output_dir)
    values = session.template_values(step.params)
    args = pm.map_all([expand(fmt_value(a), values) for a in job.args])
    env_vals, missing = session.secrets.resolve_env(job.env)
    for m in missing:
        step.warn(f"not set: {m}")
    env = session.step_env(step, {k: pm.map(expand(v, values)) for k, v in env_vals.items()})
    if job.image:
        step.note(f"image {session.project.image(job.image)} is not used locally: the job runs in this "
                  "Python environment")
    step.note(f"spark master {session.engines.master}; driver/executor sizes apply in the cluster only")
    step.detail("starting Spark" if session.engines._spark is None else "")
    t0 = time.time()
    spark = session.engines.spark()
    step.note(f"spark session ready in {time.time() - t0:.1f}s; running {f} {' '.join(args)}")
    t0 = time.time()
    with session.engines.spark_lock:
        for k, v in job.conf.items():
            try:
                spark.conf.set(str(k), fmt_value(v))
            except Exception:
                step.note(f"conf {k} cannot be set on a running session: ignored locally")
        sc = spark.sparkContext
        sc.setJobGroup(step.name, f"kfconf {step.ref}", interruptOnCancel=True)
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_stages, args=(spark, step, stop), daemon=True)
        watcher.start()
        try:
            with route_stdio(step.log), _patched_process([str(f), *args], env, f.parent):
                try:
                    runpy.run_path(str(f), run_name="__main__")
                except SystemExit as e:
                    code = e.code
                    if code not in (None, 0):
                        raise StepFailed(f"{job.file} exited with {code}")
        except StepFailed:
            raise
        except Exception as e:
            import traceback

            step.log.write(traceback.format_exc())
            raise StepFailed(f"{job.file} raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                sc.setLocalProperty("spark.jobGroup.id", None)
    step.note(f"{job.file} finished in {time.time() - t0:.1f}s")
    files = [p for p in step.output_dir.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return Outcome("done", {"files": len(files), "summary": f"{len(files)} output files"}, step.output_dir)
