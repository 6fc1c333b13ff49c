"""One tuning trial, as Ray Tune runs it in a worker: the training entry as a subprocess, its metrics
read in Katib's StdOut (or File) collector format and reported to Tune.

Light on purpose (no spec models, no Ray at import): every trial actor imports it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.local.launch import Launcher
from kfconf.local.metrics import DEFAULT_FILTER


@dataclass
class TrialSpec:
    """Everything a trial needs in its Ray worker (picklable)."""

    launcher: Launcher
    trials_dir: str
    logs_dir: str
    shared_workspace: str
    objective: str
    params: dict[str, dict[str, Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    regex: str = DEFAULT_FILTER
    metrics_file: str | None = None
    secrets: list[str] = field(default_factory=list)
    checkpoints: bool = False


def _decode(spec: TrialSpec, config: Mapping[str, Any]) -> dict[str, Any]:
    raw = dict(config.get("__grid__", config))
    raw.update(spec.fixed)
    out: dict[str, Any] = {}
    for name, value in raw.items():
        p = spec.params.get(name, {})
        v = value
        if p.get("type") in ("int", "double") and isinstance(v, int | float):
            lo, hi = p.get("min"), p.get("max")
            if lo is not None:
                v = max(lo, v)
            if hi is not None:
                v = min(hi, v)
            v = round(v) if p["type"] == "int" else float(v)
        out[name] = v
    return out


def run_trial(config: dict[str, Any], spec: TrialSpec) -> None:
    """The Ray Tune function trainable: one trial = one run of the training entry."""
    import re

    from ray import tune

    from kfconf.local import procs
    from kfconf.local.metrics import parse_line
    from kfconf.local.runs import StepLog

    t_entry = time.time()
    ctx = tune.get_context()
    trial_id = ctx.get_trial_id()
    params = _decode(spec, config)
    out_dir = Path(spec.trials_dir) / trial_id
    out_dir.mkdir(parents=True, exist_ok=True)
    ws = Path(spec.logs_dir) / trial_id / "workspace"  # outside the output folder (output/ links back to it)
    ws.mkdir(parents=True, exist_ok=True)
    for kind in ("dataset", "model"):
        link, target = ws / kind, Path(spec.shared_workspace) / kind
        if not link.exists() and not link.is_symlink():
            link.symlink_to(target.resolve() if target.exists() else target, target_is_directory=True)
    if not (ws / "output").exists():
        (ws / "output").symlink_to(out_dir.resolve(), target_is_directory=True)
    extra: dict[str, str] = {"KFCONF_TRIAL_ID": trial_id,
                             "KFCONF_TRIAL_PARAMETERS": json.dumps(params, sort_keys=True)}
    ckpt_dir = Path(spec.logs_dir) / trial_id / "checkpoint"
    loaded = tune.get_checkpoint() if spec.checkpoints else None
    if spec.checkpoints:
        ckpt_dir.mkdir(exist_ok=True)
        extra["KFCONF_CHECKPOINT_DIR"] = str(ckpt_dir)
        if loaded is not None:
            with loaded.as_directory() as d:
                shutil.copytree(d, ckpt_dir, dirs_exist_ok=True)
    metrics_path = None
    if spec.metrics_file:
        metrics_path = Path(spec.logs_dir) / trial_id / "metrics" / Path(spec.metrics_file).name
        metrics_path.parent.mkdir(exist_ok=True)
        metrics_path.write_text("", encoding="utf-8")
        extra["KFCONF_METRICS_FILE"] = str(metrics_path)
    launcher = Launcher(**{**spec.launcher.__dict__, "path_map": {
        **spec.launcher.path_map, **({spec.metrics_file: str(metrics_path)} if spec.metrics_file and metrics_path
                                     else {})}})
    cmds = launcher.commands(params, output_dir=str(out_dir), workspace=str(ws), extra_env=extra)
    log = StepLog(Path(spec.logs_dir) / f"{trial_id}.log", redact=spec.secrets)
    log.note(f"trial {trial_id}: {json.dumps(params, sort_keys=True)}")
    log.note(" ".join(cmds[0][0]))
    pattern = re.compile(spec.regex)
    seen: dict[str, float] = {}
    reported = [0]
    lock = threading.Lock()

    def consume(line: str) -> None:
        m = parse_line(line, pattern)
        if not m:
            return
        with lock:
            seen.update(m)
            if spec.objective in m:
                reported[0] += 1
                payload = dict(seen)
                if spec.checkpoints and any(ckpt_dir.iterdir()):
                    tune.report(payload, checkpoint=tune.Checkpoint.from_directory(str(ckpt_dir)))
                else:
                    tune.report(payload)

    stop_tail = threading.Event()

    def tail_file() -> None:
        assert metrics_path is not None
        pos = 0
        while True:
            finished = stop_tail.wait(0.2)
            with contextlib.suppress(OSError), open(metrics_path, encoding="utf-8", errors="replace") as fh:
                fh.seek(pos)
                chunk = fh.read()
                cut = chunk.rfind("\n") + 1 if not finished else len(chunk)
                pos += len(chunk[:cut].encode("utf-8"))
                for line in chunk[:cut].splitlines():
                    consume(line)
            if finished:
                return

    tailer = None
    if metrics_path is not None:
        tailer = threading.Thread(target=tail_file, daemon=True)
        tailer.start()
    t_start = [time.time()]

    def started(ps: list[Any]) -> None:  # the driver stops what a killed trial actor left behind
        import psutil

        t_start[0] = time.time()
        with contextlib.suppress(OSError, psutil.Error):
            (Path(spec.logs_dir) / trial_id / "pids.json").write_text(json.dumps(
                [[p.pid, psutil.Process(p.pid).create_time()] for p in ps]), encoding="utf-8")

    try:
        codes = procs.run_group(cmds, cwd=Path(launcher.cwd), log=log, timeout=launcher.timeout, on_start=started,
                                on_line=(lambda i, line: consume(line) if i == 0 and metrics_path is None else None))
    finally:
        stop_tail.set()
        if tailer is not None:
            tailer.join(5)
        log.note(f"set-up {t_start[0] - t_entry:.2f}s, ran {time.time() - t_start[0]:.2f}s")
        log.close()
    bad = [c for c in codes if c != 0]
    if bad:
        raise RuntimeError(f"trial exited with {bad[0]}; see {log.path}")
    (Path(spec.logs_dir) / trial_id / "finished").write_text("", encoding="utf-8")  # ran to its end
    if not reported[0] and loaded is None:  # a PBT trial resumed at its last epoch has nothing left to report
        raise RuntimeError(f"the objective metric {spec.objective} was never reported (Katib StdOut format "
                           f"`{spec.objective}=VALUE`); see {log.path}")
