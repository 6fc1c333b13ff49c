"""Register a model in the project's local registry (`.kfconf/registry.db`).

`from: training/NAME` registers that entry's newest output (in this run, or from an earlier run);
`from: tuning/NAME` the best trial's output; a storage URI is recorded as given. The version is the
entry's `version`; registering it again updates its artifact (a local re-run produced a new model).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kfconf.components.registry.spec import ModelFormat, RegisteredModel
from kfconf.core.errors import Diagnostic
from kfconf.local.context import Outcome, RunSession, StepFailed, StepRun
from kfconf.local.registry import RegistryStore


def preflight(session: RunSession, reg: RegisteredModel, planned: Iterable[str] = ()) -> Iterable[Diagnostic]:
    ref = f"registry/{reg.name}"
    src = reg.from_
    if src.startswith(("training/", "tuning/")):
        if session.project.entry(src) is None:
            yield session.diag("KF201", f"{src} does not exist", ref, "from")
        elif src not in set(planned) and session.store.latest(src) is None:
            yield session.diag("KF701", f"{src} has no local output yet", ref, "from",
                               hint=f"run it first: kfconf run {src} (or a pipeline that runs it)")


def model_dir(step_or_session: StepRun | RunSession, src: str) -> Path | None:
    """The local model folder of `training/NAME` (its output) or `tuning/NAME` (its best trial's output)."""
    session = step_or_session.session if isinstance(step_or_session, StepRun) else step_or_session
    produced = step_or_session.produced if isinstance(step_or_session, StepRun) else {}
    out = produced.get(src)
    outputs: dict[str, Any] = {}
    if out is None:
        rec = session.store.latest(src)
        if rec is None:
            return None
        out, outputs = rec.output_dir, rec.outputs
    if src.startswith("tuning/"):
        best = outputs.get("modelDir")
        if best is None and (out / "best-trial.json").is_file():
            doc = json.loads((out / "best-trial.json").read_text(encoding="utf-8")) or {}
            best = doc.get("outputDir")
        return Path(best) if best else None
    return out


def fmt(reg: RegisteredModel) -> tuple[str, str | None]:
    if isinstance(reg.format, ModelFormat):
        return reg.format.name, reg.format.version
    return str(reg.format), None


def run(step: StepRun, reg: RegisteredModel) -> Outcome:
    session = step.session
    src = reg.from_
    path: Path | None = None
    if src.startswith(("training/", "tuning/")):
        path = model_dir(step, src)
        if path is None or not path.exists():
            raise StepFailed(f"{src} has no local output: run it first")
        uri = path.resolve().as_uri()
    else:
        uri = src
        step.note(f"{src} is recorded as given (not fetched)")
    name, version = fmt(reg)
    meta = {**reg.metadata, "kfconf.source": src}
    owner = session.project.model.metadata.owner
    store = RegistryStore.for_project(session.project_dir)
    ver, what = store.register(reg.name, reg.version, uri, format_name=name, format_version=version,
                               description=reg.description, author=reg.author or owner, owner=owner, metadata=meta)
    art = ver["artifacts"][-1]
    step.note(f"{what}: RegisteredModel {reg.name} (id {ver['registeredModelId']}) ModelVersion {reg.version} "
              f"(id {ver['id']}) ModelArtifact {art['id']} {uri}")
    return Outcome("done", {"model": reg.name, "version": reg.version, "uri": uri, "modelVersionId": ver["id"],
                            "registeredModelId": ver["registeredModelId"],
                            "summary": f"{reg.name} {reg.version} {what} ({name})"},
                   path if path is not None else None)
