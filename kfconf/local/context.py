"""What component runners receive: the run (`RunSession`) and the step (`StepRun`).

A component's `local.py` provides `run(step: StepRun, entry) -> Outcome`, optionally
`preflight(session, entry) -> Iterable[Diagnostic]` (problems found before anything runs) and
`fingerprint(session, entry) -> dict` (what else, beyond the entry's spec, decides its output: input
files, resolved initializers) for the content-hash cache.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.core.errors import Diagnostic, Severity
from kfconf.local.artifacts import ArtifactStore
from kfconf.local.engines import Engines
from kfconf.local.env import Secrets
from kfconf.local.progress import Progress
from kfconf.local.runs import RunFolder, StepLog


@dataclass
class Options:
    ray_address: str | None = None
    spark_master: str | None = None
    use_cache: bool = True
    """Skip pipeline steps whose inputs did not change (`--force` turns it off)."""
    keep_serving: bool = True
    """After the steps, keep started model servers up until Ctrl-C / SIGTERM (`--once` turns it off)."""
    port: int | None = None
    """Model server port (first server); None: 8080 if free, else a free port."""
    max_cores: int | None = None


@dataclass
class Server:
    """A model server started by a serving step."""

    name: str
    url: str
    pid: int
    proc: Any
    log: Path
    step: str = ""


@dataclass
class RunSession:
    project: Any
    """kfconf.spec.project.Project"""
    stack: Any
    run: RunFolder
    store: ArtifactStore
    progress: Progress
    engines: Engines
    secrets: Secrets
    options: Options = field(default_factory=Options)
    servers: list[Server] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    values: dict[str, Any] = field(default_factory=dict)
    """Template values: run.id, run.date, params.NAME."""
    base_env: dict[str, str] = field(default_factory=dict)
    """kfconf's environment when the run started plus the loopback settings: every step's environment
    starts from this snapshot, never from the live os.environ that an in-process step may change."""

    def step_env(self, step: StepRun, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(self.base_env)
        env.update({"KFCONF_RUN_ID": self.run.id, "KFCONF_STEP": step.name, "KFCONF_PROJECT_DIR":
                    str(self.project_dir), "KFCONF_OUTPUT_DIR": str(step.output_dir)})
        inputs = {n: str(o.output_dir) for n, o in sorted(step.inputs.items()) if o.output_dir is not None}
        for n, d in inputs.items():  # the outputs of the steps before this one
            env["KFCONF_INPUT_" + re.sub(r"[^A-Za-z0-9]", "_", n).upper()] = d
        if inputs:
            env["KFCONF_INPUTS"] = json.dumps(inputs, sort_keys=True)
        env.update(extra or {})
        return env

    def template_values(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        vals = dict(self.values)
        for k, v in (params or {}).items():
            vals[f"params.{k}"] = v
        return vals

    @property
    def project_dir(self) -> Path:
        return Path(self.project.dir)

    @property
    def source_dir(self) -> Path:
        src = self.project.model.spec.source.path
        return (self.project_dir / src).resolve()

    @property
    def image_workdir(self) -> str:
        return str(self.project.model.spec.source.image_workdir)

    def local_setting(self, key: str, default: Any) -> Any:
        """A setting of the stack's `components.local` section (see the built-in `local` stack)."""
        comp = self.stack.component("local") if self.stack is not None else {}
        return comp.get(key, default)

    def loc(self, ref: str, *path: str | int) -> tuple[Any, tuple[str | int, ...]]:
        key, _, name = ref.partition("/")
        p = (*self.project.entry_path(key, name), *path)
        return self.project.loc(p), p

    def diag(self, code: str, message: str, ref: str, *path: str | int, hint: str | None = None,
             severity: Severity = Severity.ERROR) -> Diagnostic:
        loc, p = self.loc(ref, *path)
        return Diagnostic(code, message, loc, p, hint, severity)


@dataclass
class Outcome:
    status: str
    """done, cached, failed, skipped, blocked, serving."""
    outputs: dict[str, Any] = field(default_factory=dict)
    output_dir: Path | None = None
    message: str = ""
    seconds: float = 0.0
    key: str | None = None
    output_hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("done", "cached", "skipped", "serving")


class StepFailed(Exception):
    """A step failed for a reason its log explains; the message is one line for the summary."""


@dataclass
class StepRun:
    session: RunSession
    name: str
    ref: str
    entry: Any
    log: StepLog
    dir: Path
    """The step's folder in the run folder (trial logs, workspace links, best trial)."""
    output_dir: Path
    """Where the step's outputs go (in the artifact store)."""
    params: dict[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Outcome] = field(default_factory=dict)
    """Outcomes of the steps before this one, by step name."""
    produced: dict[str, Path] = field(default_factory=dict)
    """`SECTION/NAME` → output folder of entries run earlier in this run (data outputs for initializers)."""
    started: float = field(default_factory=time.time)

    def note(self, text: str, show: bool = False) -> None:
        self.log.note(text)
        if show:
            self.session.progress.event(self.name, text)

    def warn(self, text: str) -> None:
        self.log.note(f"warning: {text}")
        self.session.progress.event(self.name, f"warning: {text}")

    def detail(self, text: str, echo: bool = False) -> None:
        self.session.progress.detail(self.name, text, echo)

    def event(self, text: str) -> None:
        self.session.progress.event(self.name, text)
