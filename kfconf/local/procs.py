"""Subprocesses of a local run: output captured line by line into the step log, each in its own process
group, tied to kfconf's life (Linux parent-death signal), stopped as a group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kfconf.local.runs import StepLog

_PR_SET_PDEATHSIG = 1
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover - not glibc
    _prctl = None


def _child_setup() -> None:  # runs in the child between fork and exec: keep it minimal
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


_LIVE: dict[int, subprocess.Popen[str]] = {}
_LIVE_LOCK = threading.Lock()


def live_processes() -> list[subprocess.Popen[str]]:
    with _LIVE_LOCK:
        return list(_LIVE.values())


def start(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        list(argv), cwd=str(cwd), env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace", bufsize=1,
        start_new_session=True, preexec_fn=_child_setup,
    )
    with _LIVE_LOCK:
        _LIVE[proc.pid] = proc
    return proc


def stop(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it after `grace` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    # whatever is left in the group (e.g. torchrun workers) goes too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1)
    with _LIVE_LOCK:
        _LIVE.pop(proc.pid, None)


def stop_all(grace: float = 5.0) -> None:
    procs = live_processes()
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.time() + grace
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.0, deadline - time.time()))
        stop(p, grace=0)


def run(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: StepLog,
        on_line: Callable[[str], None] | None = None, timeout: float | None = None,
        cancel: threading.Event | None = None) -> int:
    """Run to completion, copying output to `log` and to `on_line`; returns the exit code.

    A timeout or a set `cancel` event stops the process group; the exit code is then negative.
    """
    cb = (lambda i, line: on_line(line)) if on_line is not None else None
    return run_group([(argv, env)], cwd=cwd, log=log, on_line=cb, timeout=timeout, cancel=cancel)[0]


def run_group(cmds: Sequence[tuple[Sequence[str], Mapping[str, str]]], *, cwd: Path, log: StepLog,
              on_line: Callable[[int, str], None] | None = None, timeout: float | None = None,
              cancel: threading.Event | None = None,
              on_start: Callable[[list[subprocess.Popen[str]]], None] | None = None) -> list[int]:
    """Run several processes together (the nodes of a job); the first failure stops the others.

    Output of process i > 0 is prefixed `[i] ` in the log. Returns the exit codes in order.
    """
    procs_ = [start(argv, env=env, cwd=cwd) for argv, env in cmds]
    if on_start is not None:
        on_start(procs_)
    done = threading.Event()
    failed = threading.Event()
    reason: list[str] = []

    def pump(i: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        prefix = f"[{i}] " if len(procs_) > 1 and i > 0 else ""
        for line in proc.stdout:
            log.write(prefix + line)
            if on_line is not None:
                try:
                    on_line(i, line.rstrip("\n"))
                except Exception as e:  # a display problem must not kill the step
                    log.note(f"progress callback failed: {e}")
        if proc.wait() != 0:
            failed.set()

    readers = [threading.Thread(target=pump, args=(i, p), daemon=True) for i, p in enumerate(procs_)]
    for t in readers:
        t.start()
    deadline = time.time() + timeout if timeout else None
    exited_at: float | None = None
    try:
        while any(t.is_alive() for t in readers):
            if all(p.poll() is not None for p in procs_):  # leaders gone; a child may still hold the pipe
                exited_at = exited_at or time.time()
                if time.time() - exited_at > 3:
                    break
            if cancel is not None and cancel.is_set():
                reason.append("cancelled")
                break
            if deadline is not None and time.time() > deadline:
                reason.append(f"timeout after {timeout:.0f}s")
                break
            if failed.is_set() and len(procs_) > 1:
                reason.append("a process failed")
                break
            for t in readers:
                t.join(0.1)
    finally:
        done.set()
        if reason:
            log.note(f"stopping: {reason[0]}")
        for p in procs_:
            stop(p, grace=5.0 if reason else 2.0)
        for t in readers:
            t.join(2)
    codes = [p.returncode if p.returncode is not None else -9 for p in procs_]
    if reason and reason[0] != "a process failed":
        codes = [c if c != 0 else -15 for c in codes]
    return codes


class _Router:
    """sys.stdout/sys.stderr stand-in that sends a thread's writes to that thread's step log."""

    def __init__(self, orig: Any) -> None:
        self.orig = orig
        self.local = threading.local()

    def write(self, text: str) -> int:
        target = getattr(self.local, "target", None)
        if target is not None:
            target.write(text)
            return len(text)
        return int(self.orig.write(text))

    def flush(self) -> None:
        if getattr(self.local, "target", None) is None:
            self.orig.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.orig, name)


_ROUTE_LOCK = threading.Lock()


@contextlib.contextmanager
def route_stdio(log: StepLog) -> Any:
    """In-process user code (a Spark job) prints into `log`; other threads keep the real streams."""
    with _ROUTE_LOCK:
        for name in ("stdout", "stderr"):
            if not isinstance(getattr(sys, name), _Router):
                setattr(sys, name, _Router(getattr(sys, name)))
    routers = [sys.stdout, sys.stderr]
    for r in routers:
        r.local.target = log  # type: ignore[union-attr]
    try:
        yield
    finally:
        for r in routers:
            r.local.target = None  # type: ignore[union-attr]
