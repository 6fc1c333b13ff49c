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

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kfconf.components.training.spec import TrainingJob
from kfconf.core.errors import Diagnostic, Severity
from kfconf.local import procs, uris
from kfconf.local.artifacts import hash_tree
from kfconf.local.context import Outcome, RunSession, StepFailed, StepRun
from kfconf.local.launch import PYTHONS, WORKSPACE, Launcher
from kfconf.local.metrics import parse_line
from kfconf.local.runs import state_dir

__all__ = ["PYTHONS", "WORKSPACE", "Launcher"]
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
    planned = set(planned)
    for kind in ("dataset", "model"):
        init = getattr(job, kind)
        if init is None:
            continue
        prod = uris.producer(init.uri, session.project)
        if prod is not None and prod[0] in planned:
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
                    timeout=float(job.timeout_seconds) if job.timeout_seconds else None, output_uri=job.output)


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
