"""Run ids and run folders: `.kfconf/runs/<id>/` in the project, one log per step and a `run.json`."""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

STATE_DIR = ".kfconf"


def state_dir(project_dir: Path) -> Path:
    return project_dir / STATE_DIR


def new_run_id(now: float | None = None) -> str:
    t = time.localtime(now if now is not None else time.time())
    return time.strftime("%Y%m%d-%H%M%S", t) + "-" + secrets.token_hex(2)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "step"


class StepLog:
    """One step's log file. Thread-safe; known secret values are replaced by *** before they are written."""

    def __init__(self, path: Path, redact: Collection[str] = ()) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: TextIO = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._lock = threading.Lock()
        self._redact = redact
        """Secret values (a live collection: values resolved later are redacted too)."""

    def redact(self, text: str) -> str:
        for s in sorted((s for s in list(self._redact) if len(s) >= 3), key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    def write(self, text: str) -> None:
        with self._lock:
            if self._fh.closed:
                return
            self._fh.write(self.redact(text))
            self._fh.flush()

    def line(self, text: str) -> None:
        self.write(text if text.endswith("\n") else text + "\n")

    def note(self, text: str) -> None:
        self.line(f"[kfconf] {text}")

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


@dataclass
class RunFolder:
    """`.kfconf/runs/<id>/`: `<step>.log` per step, `<step>/` for a step's extras, `run.json`."""

    project_dir: Path
    id: str
    target: str
    env: str | None
    started: float = field(default_factory=time.time)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def new(cls, project_dir: Path, target: str, env: str | None) -> RunFolder:
        """A run with a fresh id; its folder is made by `open()`."""
        return cls(project_dir, new_run_id(), target, env)

    def open(self) -> RunFolder:
        self.started = time.time()
        self.path.mkdir(parents=True, exist_ok=False)
        self.save(status="running")
        return self

    @property
    def path(self) -> Path:
        return state_dir(self.project_dir) / "runs" / self.id

    def log_path(self, step: str) -> Path:
        return self.path / f"{safe_name(step)}.log"

    def step_dir(self, step: str) -> Path:
        d = self.path / safe_name(step)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def record(self, step: str, **info: Any) -> None:
        with self._lock:
            self.steps.setdefault(step, {}).update(info)
        self.save()

    def save(self, status: str | None = None) -> None:
        with self._lock:
            if status is not None:
                self.extra["status"] = status
            doc = {
                "id": self.id,
                "target": self.target,
                "env": self.env,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
                "seconds": round(time.time() - self.started, 3),
                **self.extra,
                "steps": self.steps,
            }
            tmp = self.path / ".run.json.tmp"
            tmp.write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
            os.replace(tmp, self.path / "run.json")


def list_runs(project_dir: Path) -> list[Path]:
    root = state_dir(project_dir) / "runs"
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name) if root.is_dir() else []
