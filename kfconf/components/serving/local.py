"""Serve a model locally: KServe's ModelServer on 127.0.0.1 (see kfconf/local/serve.py), V1 and V2.

The model is `registry/NAME` (the registry entry's version in the local registry, else its newest),
`training/NAME` (that entry's newest output), or a URI resolved like an initializer (local path or cache).
The step ends once the server answers `/v2/health/ready` and the model's metadata; `kfconf run` then keeps
serving until Ctrl-C / SIGTERM (or stops it at the end with `--once`). Replicas, autoscaling, resources,
canary traffic splits, transformers and explainers apply in the cluster only (noted in the log).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kfconf.components.serving.spec import ServingEntry
from kfconf.core.errors import Diagnostic, Severity
from kfconf.local import uris
from kfconf.local.context import Outcome, RunSession, Server, StepFailed, StepRun
from kfconf.local.engines import free_port, port_free
from kfconf.local.env import LOOPBACK
from kfconf.local.registry import RegistryStore

READY_TIMEOUT = 180.0


def preflight(session: RunSession, sv: ServingEntry, planned: Iterable[str] = ()) -> Iterable[Diagnostic]:
    ref = f"serving/{sv.name}"
    model = sv.model
    planned = set(planned)
    if model.startswith("registry/"):
        reg = session.project.entry(model)
        if reg is None:
            yield session.diag("KF201", f"{model} does not exist", ref, "model")
        elif model not in planned and RegistryStore.for_project(session.project_dir).version(reg.name) is None:
            yield session.diag("KF701", f"{model} is not in the local registry yet", ref, "model",
                               hint=f"register it first: kfconf run {model}")
    elif model.startswith("training/"):
        if model not in planned and session.store.latest(model) is None:
            yield session.diag("KF701", f"{model} has no local output yet", ref, "model",
                               hint=f"run it first: kfconf run {model}")
    elif "/" in model and "://" not in model and model.split("/")[0] in ("tuning", "data", "serving"):
        yield session.diag("KF702", f"cannot serve {model} locally", ref, "model")
    else:
        try:
            uris.resolve(model, project_dir=session.project_dir, project=session.project, store=session.store)
        except uris.Unresolvable as e:
            yield session.diag("KF701", str(e), ref, "model", hint=e.hint)
    for field in ("transformer", "explainer"):
        if getattr(sv, field) is not None:
            yield session.diag("KF702", f"the {field} is not run locally: the server answers with the predictor "
                               "only", ref, field, severity=Severity.WARNING)


def _path_of(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


def locate(step: StepRun, sv: ServingEntry) -> tuple[Path, str, str]:
    """(model folder, format, where it came from)."""
    session = step.session
    model = sv.model
    if model.startswith("registry/"):
        reg = session.project.entry(model)
        store = RegistryStore.for_project(session.project_dir)
        ver = store.version(reg.name, reg.version) or store.version(reg.name)
        if ver is None or not ver["artifacts"]:
            raise StepFailed(f"{model} is not in the local registry: run it first")
        art = ver["artifacts"][-1]
        path = _path_of(art["uri"])
        if not path.exists():
            try:
                path = uris.resolve(art["uri"], project_dir=session.project_dir, project=session.project,
                                    store=session.store).path
            except uris.Unresolvable as e:
                raise StepFailed(f"{model} {ver['name']}: {e} — {e.hint}")
        fmt = sv.format or art.get("modelFormatName") or ""
        return path, fmt, f"{model} version {ver['name']} ({art['uri']})"
    if model.startswith("training/"):
        out = step.produced.get(model)
        if out is None:
            rec = session.store.latest(model)
            if rec is None:
                raise StepFailed(f"{model} has no local output: run it first")
            out = rec.output_dir
        return out, sv.format or "", f"output of {model}"
    try:
        r = uris.resolve(model, project_dir=session.project_dir, project=session.project, store=session.store,
                         produced=step.produced)
    except uris.Unresolvable as e:
        raise StepFailed(f"{e} — {e.hint}")
    return r.path, sv.format or "", f"{model} ({r.source})"


def _get(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else None
    except urllib.error.HTTPError as e:
        return e.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def post(url: str, doc: Any, timeout: float = 10.0) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def choose_port(session: RunSession) -> int:
    first = not session.servers
    if session.options.port is not None and first:
        return session.options.port or free_port()
    return 8080 if first and port_free(8080) else free_port()


def run(step: StepRun, sv: ServingEntry) -> Outcome:
    session = step.session
    path, fmt, origin = locate(step, sv)
    from kfconf.local.serve import UnsupportedModel, model_file

    try:
        kind, file = model_file(path, fmt)
    except UnsupportedModel as e:
        raise StepFailed(str(e))
    step.note(f"model: {origin} → {file} ({kind})", show=True)
    if sv.canary is not None:
        step.note(f"canary {sv.canary.percent}%: traffic splits apply in the cluster; locally every request goes "
                  "to this model", show=True)
    if sv.replicas.max > 1 or sv.autoscaling is not None:
        step.note("replicas and autoscaling apply in the cluster: one local server process")
    port = choose_port(session)
    env = session.step_env(step)
    argv = [sys.executable, "-m", "kfconf.local.serve", "--name", sv.name, "--model", str(file), "--format",
            kind, "--port", str(port), "--host", LOOPBACK]
    step.log.note(" ".join(argv))
    log_path = step.log.path
    with open(log_path, "a", encoding="utf-8") as fh:  # the server keeps appending to the step's log
        proc = subprocess.Popen(argv, cwd=str(step.dir), env=env, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://{LOOPBACK}:{port}"
    server = Server(sv.name, f"{base}/v2/models/{sv.name}", proc.pid, proc, log_path, step.name)
    session.servers.append(server)
    step.detail(f"starting server on {base}")
    deadline = time.time() + READY_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise StepFailed(f"the model server exited with {proc.returncode}; see the log")
        if session.cancel.is_set():
            raise StepFailed("run stopped")
        code, _ = _get(f"{base}/v2/health/ready")
        if code == 200:
            break
        if time.time() > deadline:
            raise StepFailed(f"the model server was not ready after {READY_TIMEOUT:.0f}s")
        time.sleep(0.25)
    code, meta = _get(f"{base}/v2/models/{sv.name}")
    if code != 200:
        raise StepFailed(f"GET /v2/models/{sv.name} answered {code}")
    checked = ""
    example = _example(file)
    if example is not None:
        code, body = post(f"{base}/v1/models/{sv.name}:predict", {"instances": example})
        if code != 200:
            raise StepFailed(f"a sample V1 predict answered {code}: {str(body)[:200]}")
        checked = " · sample predict ok"
    step.note(f"ready: V1 {base}/v1/models/{sv.name}:predict, V2 {base}/v2/models/{sv.name}/infer{checked}",
              show=True)
    return Outcome("serving", {"url": f"{base}/v2/models/{sv.name}", "v1": f"{base}/v1/models/{sv.name}",
                               "port": port, "pid": proc.pid, "model": str(file), "metadata": meta,
                               "summary": f"{base}/v2/models/{sv.name}{checked}"})


def _example(file: Path) -> Any:
    """A sample input the training script left beside the model (`model.json` with `example`), if any."""
    meta = file.parent / "model.json"
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("example")
    except (OSError, ValueError, AttributeError):
        return None
