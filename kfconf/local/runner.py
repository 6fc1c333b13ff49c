"""`kfconf run`: a target (a pipeline or one entry) of a project, on this machine.

    plan       the target → DAG nodes (a pipeline's steps, or one node for an entry)
    preflight  every problem the run would hit, before anything runs, at its spec line (KF702, KF210 …)
    run        run folder, progress, the DAG runner, then (with model servers up) serve until stopped
"""

from __future__ import annotations

import difflib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kfconf.core.errors import Diagnostic, FindingsError, Severity, UsageError
from kfconf.core.paths import shown
from kfconf.local import procs
from kfconf.local.artifacts import ArtifactStore
from kfconf.local.context import Options, Outcome, RunSession, Server
from kfconf.local.dag import Node, local_runner, run_dag
from kfconf.local.engines import DEFAULT_RAY_CPUS, Engines, MainThread, apply_loopback_env
from kfconf.local.env import Secrets
from kfconf.local.progress import Progress
from kfconf.local.runs import RunFolder, state_dir

SECTIONS = ("data", "training", "tuning", "registry", "serving", "pipelines")


@dataclass
class RunReport:
    run: RunFolder
    target: str
    outcomes: dict[str, Outcome]
    servers: list[Server] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values())

    @property
    def failed(self) -> dict[str, Outcome]:
        return {n: o for n, o in self.outcomes.items() if not o.ok}


def default_pipeline(project: Any) -> str:
    pipes = project.entries("pipelines")
    if not pipes:
        raise UsageError("the project has no pipeline: name a target such as training/NAME")
    defaults = [p for p in pipes if p.default]
    if len(defaults) == 1:
        return f"pipelines/{defaults[0].name}"
    if len(pipes) == 1:
        return f"pipelines/{pipes[0].name}"
    names = ", ".join(f"pipelines/{p.name}" for p in pipes)
    raise UsageError(f"the project has {len(pipes)} pipelines and none is `default: true`: name one of {names}")


def plan(project: Any, target: str) -> list[Node]:
    section, _, name = target.partition("/")
    if section not in SECTIONS or not name:
        raise UsageError(f"expected a target SECTION/NAME with SECTION one of {', '.join(SECTIONS)}, got {target!r}")
    entry = project.entry(target)
    if entry is None:
        names = [e.name for e in project.entries(section)]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {section}/{close[0]}?)" if close else (
            f" (there are: {', '.join(names)})" if names else "")
        raise UsageError(f"no {section} entry named {name!r} in the project{hint}")
    if section != "pipelines":
        return [Node(name, target, entry)]
    nodes = []
    for step in entry.steps:
        if step.run:
            ref_entry = project.entry(step.run)
            if ref_entry is None:
                raise UsageError(f"pipeline {name}: step {step.name} runs {step.run}, which does not exist")
            nodes.append(Node(step.name, step.run, ref_entry, list(step.after), dict(step.params)))
        elif step.container is not None:
            nodes.append(Node(step.name, f"container/{step.name}", step.container, list(step.after),
                              dict(step.params)))
        else:
            raise UsageError(f"pipeline {name}: step {step.name} has neither run nor container")
    _check_acyclic(nodes)
    return nodes


def _check_acyclic(nodes: list[Node]) -> None:
    by = {n.name: n for n in nodes}
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2 or n not in by:
            return
        if state.get(n) == 1:
            raise UsageError(f"the pipeline has a cycle: {' → '.join([*path, n])}")
        state[n] = 1
        for d in by[n].after:
            visit(d, [*path, n])
        state[n] = 2

    for n in by:
        visit(n, [])


def preflight(session: RunSession, nodes: list[Node]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    planned = {n.ref for n in nodes}
    for node in nodes:
        mod = local_runner(node.section)
        if mod is None:
            diags.append(session.diag("KF702", f"{node.section} entries have no local runner", node.ref))
            continue
        fn = getattr(mod, "preflight", None)
        if fn is not None:
            try:
                diags.extend(fn(session, node.entry, planned) if _takes_planned(fn) else fn(session, node.entry))
            except FindingsError as e:
                diags.extend(e.diagnostics)
    return diags


def _takes_planned(fn: Callable[..., Any]) -> bool:
    import inspect

    return len(inspect.signature(fn).parameters) >= 3


def _install_sigterm() -> Callable[[], None]:
    """SIGTERM behaves as Ctrl-C (KeyboardInterrupt in the main thread) for the run's lifetime."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, old)

    return restore


def run_target(project: Any, stack: Any, target: str | None, *, env: str | None = None,
               options: Options | None = None, stream: TextIO | None = None, live: bool | None = None,
               out: TextIO | None = None) -> RunReport:
    """Run `target` (None: the default pipeline). Raises FindingsError before running if the spec cannot
    run here; returns the report (failed steps included) otherwise."""
    options = options or Options()
    target = target or default_pipeline(project)
    nodes = plan(project, target)
    project_dir = Path(project.dir).resolve()
    run = RunFolder.new(project_dir, target, env)
    progress = Progress(stream, live)
    ray_cpus = DEFAULT_RAY_CPUS
    if stack is not None:
        ray_cpus = int(stack.component("local").get("rayCpus", DEFAULT_RAY_CPUS))
    spark_master = options.spark_master
    if spark_master is None and stack is not None:
        spark_master = stack.component("local").get("sparkMaster")
    engines = Engines(spark_master=spark_master, ray_address=options.ray_address, log_dir=run.path,
                      state_dir=state_dir(project_dir), ray_cpus=ray_cpus, main=MainThread())
    apply_loopback_env()
    session = RunSession(project, stack, run, ArtifactStore(project_dir), progress, engines,
                         Secrets(project_dir), options)
    session.base_env = dict(os.environ)
    session.values = {"run.id": run.id, "run.date": time.strftime("%Y-%m-%d"), "run.name": target}
    for p in project.entries("pipelines"):
        if f"pipelines/{p.name}" == target:
            session.values.update({f"params.{k}": v for k, v in p.parameters.items()})

    diags = preflight(session, nodes)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        raise FindingsError(diags)
    run.open()
    state_gitignore(project_dir)
    restore = _install_sigterm()
    out = out or sys.stdout
    t0 = time.time()
    logs = shown(run.path, Path.cwd())
    progress.start(f"run {run.id} · {target}" + (f" · env {env}" if env else "") + f" · logs {logs}/",
                   [(n.name, n.ref) for n in nodes])
    for d in diags:
        progress.message(d.render())
    outcomes: dict[str, Outcome] = {}
    interrupted = False
    try:
        outcomes = run_dag(session, nodes)
        report = RunReport(run, target, outcomes, list(session.servers), time.time() - t0)
        run.extra["servers"] = [{"name": s.name, "url": s.url, "pid": s.pid} for s in session.servers]
        run.save(status="succeeded" if report.ok else "failed")
        _summary(progress, report, logs)
        if session.servers:
            for s in session.servers:
                print(s.url, file=out, flush=True)
            if options.keep_serving and report.ok:
                names = ", ".join(s.name for s in session.servers)
                progress.message(f"serving {names} on 127.0.0.1 — Ctrl-C to stop")
                _serve_until_stopped(session)
        return report
    except KeyboardInterrupt:
        interrupted = True
        session.cancel.set()
        if not session.servers or not outcomes:
            raise
        return RunReport(run, target, outcomes, list(session.servers), time.time() - t0)
    finally:
        session.cancel.set()
        if engines.main is not None:
            engines.main.close()
        stop_servers(session)
        procs.stop_all()
        engines.close()
        if interrupted and not outcomes:
            run.save(status="interrupted")
        progress.close()
        restore()


def stop_servers(session: RunSession) -> None:
    for s in session.servers:
        procs.stop(s.proc, grace=10)
        session.progress.state(s.step or s.name, "stopped")


def _serve_until_stopped(session: RunSession) -> None:
    while True:
        for s in session.servers:
            if s.proc.poll() is not None:
                session.progress.message(f"server {s.name} exited with {s.proc.returncode}; see {s.log}")
                return
        time.sleep(0.5)


def _summary(progress: Progress, report: RunReport, logs: str) -> None:
    counts: dict[str, int] = {}
    for o in report.outcomes.values():
        counts[o.status] = counts.get(o.status, 0) + 1
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    verdict = "succeeded" if report.ok else "failed"
    progress.message(f"run {report.run.id} {verdict} in {report.seconds:.1f}s: {parts}")
    for name, o in report.failed.items():
        progress.message(f"  {name}: {o.status}: {o.message}  (log: {logs}/{report.run.log_path(name).name})")


def state_gitignore(project_dir: Path) -> None:
    """`.kfconf/` holds runs, artifacts, the registry and secrets: keep them out of git (caches may be
    committed on purpose)."""
    gi = state_dir(project_dir) / ".gitignore"
    if not gi.exists():
        gi.write_text("# written by kfconf run: local state, never commit secrets.yaml\n"
                      "runs/\nartifacts/\nregistry.db*\nsecrets.yaml\nconfigmaps.yaml\nspark-warehouse/\n",
                      encoding="utf-8")
