"""Run a training entry locally: `torchrun` with nodes × procsPerNode CPU processes (gloo on 127.0.0.1).

What the process sees is what the Trainer's torch runtime gives it in the cluster:
  * `PET_NNODES`, `PET_NPROC_PER_NODE`, `PET_NODE_RANK`, `PET_MASTER_ADDR`, `PET_MASTER_PORT` — one
    torchrun agent per node, static rendezvous on 127.0.0.1 at a free port — and what torchrun sets
    (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`, …).
    A job of one process runs as plain `python` with the same variables (saves torchrun's start-up).
  * `python X.py` / `python -m M` commands run under torchrun; other programs with `--no-python`.
  * the entry's env (secret references from `.kfconf/secrets.yaml` or `KFCONF_SECRET_…`, never logged),
    `GLOO_SOCKET_IFNAME=lo`, `OMP_NUM_THREADS=1`;
  * args rendered as `--key value`, as the renderer does;
  * `/workspace/dataset`, `/workspace/model` (the initializers' folders) and `/workspace/output` mapped to
    local folders in arguments and env values, also in `KFCONF_DATASET_DIR`, `KFCONF_MODEL_DIR`,
    `KFCONF_OUTPUT_DIR` (the output folder in the artifact store); the image workdir maps to the source
    folder; `emptyDir` volumes to a folder of the run, claims to `.kfconf/volumes/CLAIM/`.
The image is not used: the command runs in this Python environment. GPUs are not used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.components.training.spec import TrainingJob
from kfconf.core.errors import Diagnostic, Severity
from kfconf.local import procs, uris
from kfconf.local.artifacts import hash_tree
from kfconf.local.context import Outcome, RunSession, StepFailed, StepRun
from kfconf.local.engines import free_port
from kfconf.local.env import LOOPBACK, PathMap, expand, render_args
from kfconf.local.metrics import parse_line
from kfconf.local.runs import state_dir

WORKSPACE = "/workspace"
PYTHONS = ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}")
TORCH_RUNTIMES = ("torch",)


def framework(session: RunSession, job: TrainingJob) -> str:
    rt = session.stack.runtime("training", job.runtime) if session.stack is not None else None
    if rt is not None:
        return str(rt.get("framework", "torch"))
    return "torch" if job.runtime.startswith("torch") else job.runtime.split("-", 1)[0]


def script_files(session: RunSession, job: TrainingJob) -> list[Path]:
    out = []
    for tok in [*job.command, *(job.args if isinstance(job.args, list) else [])]:
        t = str(tok)
        if t.endswith((".py", ".sh", ".yaml", ".json")) and not t.startswith("-"):
            p = Path(t)
            wd = session.image_workdir.rstrip("/") + "/"
            if p.is_absolute() and t.startswith(wd):
                p = Path(t[len(wd):])
            out.append(p if p.is_absolute() else session.source_dir / p)
    return out


def preflight(session: RunSession, job: TrainingJob, planned: Iterable[str] = ()) -> Iterable[Diagnostic]:
    ref = f"training/{job.name}"
    fw = framework(session, job)
    if not job.command:
        yield session.diag("KF702", "no command: the runtime's default command needs its image; give a command "
                           "to run it locally", ref, "command")
    elif fw == "torchtune":
        yield session.diag("KF702", f"runtime {job.runtime} (a built-in TorchTune trainer) has no local "
                           "equivalent", ref, "runtime")
    elif fw not in TORCH_RUNTIMES and job.nodes * job.procs_per_node > 1:
        yield session.diag("KF702", f"runtime {job.runtime} ({fw}) runs only as one local process, got "
                           f"{job.nodes} × {job.procs_per_node}", ref, "procsPerNode")
    for f in script_files(session, job):
        if not f.exists():
            yield session.diag("KF210", f"{f.name} does not exist ({f})", ref, "command")
    planned_data = {p for p in planned if p.startswith("data/")}
    for kind in ("dataset", "model"):
        init = getattr(job, kind)
        if init is None:
            continue
        prod = uris.data_producer(init.uri, session.project)
        if prod is not None and f"data/{prod[0]}" in planned_data:
            continue
        try:
            uris.resolve(init.uri, project_dir=session.project_dir, project=session.project, store=session.store)
        except uris.Unresolvable as e:
            yield session.diag("KF701", str(e), ref, kind, "uri", hint=e.hint)
    if job.resources.gpu:
        yield session.diag("KF702", f"{job.resources.gpu} GPU(s) requested: the local run uses the CPU", ref,
                           "resources", "gpu", severity=Severity.WARNING)


def fingerprint(session: RunSession, job: TrainingJob, produced: Mapping[str, Path]) -> dict[str, Any]:
    files = {str(f.relative_to(session.source_dir)) if f.is_relative_to(session.source_dir) else str(f):
             hash_tree(f) for f in script_files(session, job)}
    inits: dict[str, str] = {}
    for kind in ("dataset", "model"):
        init = getattr(job, kind)
        if init is not None:
            try:
                r = uris.resolve(init.uri, project_dir=session.project_dir, project=session.project,
                                 store=session.store, produced=produced)
                inits[kind] = hash_tree(r.path)
            except uris.Unresolvable:
                inits[kind] = init.uri
    return {"files": files, "initializers": inits}


@dataclass
class Launcher:
    """How to start the processes of one training job; picklable (a tuning trial builds it in a Ray worker)."""

    command: list[str]
    args: dict[str, Any] | list[str]
    nodes: int
    procs_per_node: int
    cwd: str
    env: dict[str, str]
    """The base environment (not path-mapped)."""
    user_env: dict[str, str] = field(default_factory=dict)
    """The entry's env: container paths in it are mapped."""
    path_map: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)
    torch: bool = True
    timeout: float | None = None

    @property
    def world(self) -> int:
        return self.nodes * self.procs_per_node

    def argv_tail(self, overrides: Mapping[str, Any] | None = None) -> list[str]:
        pm = PathMap({k: Path(v) for k, v in self.path_map.items()})
        args = render_args(self.args, overrides)
        return pm.map_all([expand(a, self.template) for a in [*self.command[1:], *args]])

    def commands(self, overrides: Mapping[str, Any] | None = None, *, output_dir: str | None = None,
                 workspace: str | None = None, extra_env: Mapping[str, str] | None = None,
                 port: int | None = None) -> list[tuple[list[str], dict[str, str]]]:
        """(argv, env) per node. `workspace` replaces the `/workspace` mapping (a trial's own folder)."""
        port = port or free_port()
        pm = dict(self.path_map)
        if workspace is not None:
            pm[WORKSPACE] = workspace
        launcher = Launcher(**{**self.__dict__, "path_map": pm})
        tail = launcher.argv_tail(overrides)
        prog = self.command[0]
        base = dict(self.env)
        if output_dir is not None:
            base["KFCONF_OUTPUT_DIR"] = output_dir
        if workspace is not None:
            base["KFCONF_DATASET_DIR"] = os.path.join(workspace, "dataset")
            base["KFCONF_MODEL_DIR"] = os.path.join(workspace, "model")
        pmap = PathMap({k: Path(v) for k, v in pm.items()})
        base.update({k: pmap.map(expand(v, self.template)) for k, v in self.user_env.items()})
        base.update(extra_env or {})
        base.update({"PET_NNODES": str(self.nodes), "PET_NPROC_PER_NODE": str(self.procs_per_node),
                     "PET_MASTER_ADDR": LOOPBACK, "PET_MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
                     "GLOO_SOCKET_IFNAME": "lo", "PYTHONUNBUFFERED": "1"})
        out = []
        for rank in range(self.nodes):
            env = {**base, "PET_NODE_RANK": str(rank)}
            if self.world == 1 or not self.torch:
                env.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                            "GROUP_RANK": "0", "GROUP_WORLD_SIZE": "1", "ROLE_RANK": "0", "ROLE_NAME": "default",
                            "ROLE_WORLD_SIZE": "1", "MASTER_ADDR": LOOPBACK, "MASTER_PORT": str(port),
                            "TORCHELASTIC_RESTART_COUNT": "0", "TORCHELASTIC_MAX_RESTARTS": "0",
                            "TORCHELASTIC_RUN_ID": "none"})
                argv = [sys.executable, *tail] if prog in PYTHONS else [prog, *tail]
            elif prog == "torchrun" or (prog in PYTHONS and tail and tail[0] not in ("-c",)):
                argv = [sys.executable, "-m", "torch.distributed.run", *tail]
            else:
                exe = sys.executable if prog in PYTHONS else prog
                argv = [sys.executable, "-m", "torch.distributed.run", "--no-python", exe, *tail]
            out.append((argv, env))
        return out


def prepare_workspace(step: StepRun, job: TrainingJob, workspace: Path) -> dict[str, str]:
    """`workspace/{dataset,model}` → the resolved initializers, `workspace/output` → the output folder.

    Returns notes (kind → where it came from)."""
    session = step.session
    workspace.mkdir(parents=True, exist_ok=True)
    notes: dict[str, str] = {}
    for kind in ("dataset", "model"):
        init = getattr(job, kind)
        link = workspace / kind
        if link.is_symlink() or link.exists():
            link.unlink() if link.is_symlink() else None
        if init is None:
            link.mkdir(exist_ok=True)
            continue
        try:
            r = uris.resolve(init.uri, project_dir=session.project_dir, project=session.project,
                             store=session.store, produced=step.produced)
        except uris.Unresolvable as e:
            raise StepFailed(f"{kind} {e} — {e.hint}")
        link.symlink_to(r.path.resolve(), target_is_directory=r.path.is_dir())
        notes[kind] = f"{init.uri} ← {r.source} ({r.path})"
    out = workspace / "output"
    if out.is_symlink():
        out.unlink()
    if not out.exists():
        out.symlink_to(step.output_dir.resolve(), target_is_directory=True)
    return notes


def launcher(step: StepRun, job: TrainingJob, workspace: Path) -> Launcher:
    session = step.session
    pm: dict[str, str] = {WORKSPACE: str(workspace), session.image_workdir: str(session.source_dir)}
    for vol in job.volumes:
        if vol.empty_dir:
            d = step.dir / "volumes" / vol.name
        elif vol.claim:
            d = state_dir(session.project_dir) / "volumes" / vol.claim
        else:
            step.note(f"volume {vol.name} ({'configMap' if vol.config_map else 'secret'}) is not mounted locally")
            continue
        d.mkdir(parents=True, exist_ok=True)
        pm[vol.mount_path] = str(d)
    env_vals, missing = session.secrets.resolve_env(job.env)
    for m in missing:
        step.warn(f"not set: {m}")
    env = session.step_env(step)
    env["KFCONF_DATASET_DIR"] = str(workspace / "dataset")
    env["KFCONF_MODEL_DIR"] = str(workspace / "model")
    fw = framework(session, job)
    return Launcher(list(job.command), job.args if isinstance(job.args, list) else dict(job.args), job.nodes,
                    job.procs_per_node, str(session.source_dir), env, env_vals, pm,
                    session.template_values(step.params), torch=fw in TORCH_RUNTIMES,
                    timeout=float(job.timeout_seconds) if job.timeout_seconds else None)


def total_epochs(job: TrainingJob, overrides: Mapping[str, Any] | None = None) -> str | None:
    for key in ("epochs", "num-epochs", "num_epochs", "max-epochs", "max_epochs"):
        if overrides and key in overrides:
            return str(overrides[key])
        if isinstance(job.args, dict) and key in job.args:
            return str(job.args[key])
    return None


def describe(metrics: Mapping[str, float], total: str | None, skip: Iterable[str] = ()) -> str:
    parts = []
    if "epoch" in metrics:
        e = metrics["epoch"]
        parts.append(f"epoch {int(e) if float(e).is_integer() else e}" + (f"/{total}" if total else ""))
    skipped = {"epoch", *skip}
    parts += [f"{k}={v:.4g}" for k, v in metrics.items() if k not in skipped][:3]
    return " ".join(parts)


def run(step: StepRun, job: TrainingJob) -> Outcome:
    session = step.session
    workspace = step.dir / "workspace"
    for kind, note in prepare_workspace(step, job, workspace).items():
        step.note(f"{kind}: {note}", show=True)
    if job.image:
        step.note(f"image {session.project.image(job.image)} is not used locally: the command runs in this "
                  "Python environment")
    if job.resources.gpu:
        step.warn(f"{job.resources.gpu} GPU(s) requested: running on the CPU")
    launch = launcher(step, job, workspace)
    if not launch.torch:
        step.note(f"runtime {job.runtime} runs as one plain process locally")
    cmds = launch.commands({k: v for k, v in step.params.items()}, output_dir=str(step.output_dir))
    step.note(f"{launch.nodes} node(s) × {launch.procs_per_node} process(es): {' '.join(cmds[0][0])}")
    total = total_epochs(job, step.params)
    last: dict[str, float] = {}

    def on_line(i: int, line: str) -> None:
        if i != 0:
            return
        m = parse_line(line)
        if m:
            last.update(m)
            if "epoch" in m:
                step.detail(describe(m, total), echo=True)

    codes = procs.run_group(cmds, cwd=Path(launch.cwd), log=step.log, on_line=on_line, timeout=launch.timeout,
                            cancel=session.cancel)
    bad = [c for c in codes if c != 0]
    if bad:
        raise StepFailed(f"{' '.join(job.command)} exited with {bad[0]}"
                         + (" (timeout)" if launch.timeout and bad[0] < 0 else ""))
    summary = describe(last, total) or "done"
    return Outcome("done", {"metrics": last, "summary": summary}, step.output_dir)
