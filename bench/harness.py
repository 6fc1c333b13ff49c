"""Measurement helpers shared by every benchmark: repetitions, medians, spread, ratios, rows, machine info.

A row is a plain dict, the contract between benchmark modules and the suite:

    {"name": str, "kfconf_s": float|None, "peer": str, "peer_s": float|None, "ratio": float|None,
     "target": str, "met": bool|None, ...optional: "spread", "peer_spread", "ratio_range", "memory_mb",
     "unit", "note", "status" ("ok" | "not run" | "failed"), "reason"}

`ratio` is kfconf_s / peer_s (lower is better) and `target` reads like "≤ 3×" or "< 1×" — every target in
this suite is an upper bound on that ratio. Rows made elsewhere without "met" get it from `target`.

Costs are CPU seconds (user + system; a child process's own, from wait4), with wall-clock seconds kept beside
them: on a shared machine wall time measures the neighbours as much as the code. Timings interleave kfconf
and its peer within each repetition, so what noise remains hits both sides of a ratio.
"""

from __future__ import annotations

import gc
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cost:
    """What one run cost: CPU seconds (user + system) and wall-clock seconds."""

    cpu: float
    wall: float

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.cpu + other.cpu, self.wall + other.wall)


@dataclass(frozen=True)
class Timing:
    """Repeated costs of one measured thing. `samples` are CPU seconds — the headline: on a shared machine
    wall time measures the neighbours as much as the code — and `wall` the wall-clock seconds."""

    samples: tuple[float, ...]
    wall: tuple[float, ...] = ()

    @classmethod
    def of(cls, costs: Sequence[Cost]) -> Timing:
        return cls(tuple(c.cpu for c in costs), tuple(c.wall for c in costs))

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def wall_median(self) -> float | None:
        return statistics.median(self.wall) if self.wall else None

    @property
    def spread(self) -> float:
        """(max − min) / median: 0.1 means the repetitions were within 10 % of each other."""
        m = self.median
        return (max(self.samples) - min(self.samples)) / m if m > 0 else 0.0


def _cpu() -> float:
    """CPU seconds of this process and of every child it has waited for (subprocess.run, Popen.wait)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def clock(fn: Callable[[], Any]) -> tuple[Cost, Any]:
    """Run `fn` once. Its cost is the CPU time of this process and of the children it ran, and the wall
    time — unless `fn` returns a Cost or Proc, the cost of just the child work it measured itself."""
    gc.collect()
    c0, w0 = _cpu(), time.perf_counter()
    value = fn()
    cost = Cost(_cpu() - c0, time.perf_counter() - w0)
    if isinstance(value, Cost):
        cost = value
    elif isinstance(value, Proc):
        cost = value.cost
    return cost, value


def measure(fn: Callable[[], Any], reps: int, warmup: int = 0) -> Timing:
    for _ in range(warmup):
        fn()
    return Timing.of([clock(fn)[0] for _ in range(reps)])


def compare(kfconf: Callable[[], Any], peer: Callable[[], Any], reps: int, warmup: int = 0
            ) -> tuple[Timing, Timing]:
    """Time both sides `reps` times, alternating which goes first."""
    for _ in range(warmup):
        kfconf()
        peer()
    a: list[Cost] = []
    b: list[Cost] = []
    for i in range(reps):
        if i % 2 == 0:
            a.append(clock(kfconf)[0])
            b.append(clock(peer)[0])
        else:
            b.append(clock(peer)[0])
            a.append(clock(kfconf)[0])
    return Timing.of(a), Timing.of(b)


# --- targets and rows -----------------------------------------------------------------------------------------

_TARGET = re.compile(r"(<=|≤|<|>=|≥|>)\s*([0-9]*\.?[0-9]+)")


def le(bound: float) -> str:
    return f"≤ {bound:g}×"


def lt(bound: float) -> str:
    return f"< {bound:g}×"


def met(ratio: float | None, target: str) -> bool | None:
    """Whether `ratio` meets a target string such as "≤ 3×"; None when it cannot be decided."""
    m = _TARGET.search(target or "")
    if ratio is None or m is None:
        return None
    op, bound = m.group(1), float(m.group(2))
    return {"<=": ratio <= bound, "≤": ratio <= bound, "<": ratio < bound,
            ">=": ratio >= bound, "≥": ratio >= bound, ">": ratio > bound}[op]


def row(name: str, kfconf: Timing | float | None, peer: str, peer_t: Timing | float | None, target: str,
        **extra: Any) -> dict[str, Any]:
    k = kfconf.median if isinstance(kfconf, Timing) else kfconf
    p = peer_t.median if isinstance(peer_t, Timing) else peer_t
    ratio = k / p if k is not None and p else None
    out: dict[str, Any] = {"name": name, "kfconf_s": k, "peer": peer, "peer_s": p, "ratio": ratio,
                           "target": target, "met": met(ratio, target), "status": "ok"}
    out["clock"] = "cpu"
    if isinstance(kfconf, Timing):
        out["spread"] = kfconf.spread
        out["reps"] = len(kfconf.samples)
        out["kfconf_wall_s"] = kfconf.wall_median
    if isinstance(peer_t, Timing):
        out["peer_wall_s"] = peer_t.wall_median
    if out.get("kfconf_wall_s") and out.get("peer_wall_s"):
        out["wall_ratio"] = out["kfconf_wall_s"] / out["peer_wall_s"]
    if isinstance(peer_t, Timing):
        out["peer_spread"] = peer_t.spread
    if isinstance(kfconf, Timing) and isinstance(peer_t, Timing) and len(kfconf.samples) == len(peer_t.samples):
        per = [x / y for x, y in zip(kfconf.samples, peer_t.samples, strict=True) if y > 0]
        if per:
            out["ratio_range"] = (min(per), max(per))
    out.update(extra)
    return out


def not_run(name: str, reason: str, target: str = "", peer: str = "") -> dict[str, Any]:
    return {"name": name, "kfconf_s": None, "peer": peer, "peer_s": None, "ratio": None, "target": target,
            "met": None, "status": "not run", "reason": reason}


REQUIRED = ("name", "kfconf_s", "peer", "peer_s", "ratio", "target")


def normalize(r: dict[str, Any]) -> dict[str, Any]:
    """Fill what a benchmark module may leave out; a row without its fields is reported as failed."""
    missing = [k for k in REQUIRED if k not in r]
    if missing:
        return not_run(str(r.get("name", "?")), f"malformed row, missing {', '.join(missing)}",
                       str(r.get("target", "")))
    out = dict(r)
    out.setdefault("status", "ok")
    if out.get("ratio") is None and out.get("kfconf_s") is not None and out.get("peer_s"):
        out["ratio"] = out["kfconf_s"] / out["peer_s"]
    if "met" not in out:
        out["met"] = met(out.get("ratio"), str(out.get("target", "")))
    return out


# --- processes and memory -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proc:
    seconds: float
    cpu: float
    """user + system CPU seconds of the process (all its threads)."""
    max_rss_mb: float
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def cost(self) -> Cost:
        return Cost(self.cpu, self.seconds)


def run(cmd: Sequence[str | os.PathLike[str]], cwd: Path | None = None, env: dict[str, str] | None = None,
        stdin: bytes | None = None, check: bool = True) -> Proc:
    """Run a process; its wall time and its own peak RSS (from wait4, not the whole process tree's).

    Output goes to temporary files so that we, not Popen, reap the child and get its rusage. Peak memory comes
    from GNU time when there is one: Linux carries a parent's peak RSS over fork and exec into the child's
    rusage, so a child of this (large) process would report at least our own peak."""
    timer = _GNU_TIME if _GNU_TIME and os.access(_GNU_TIME, os.X_OK) else None
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile(prefix="rss-") as fm:
        argv = [str(c) for c in cmd]
        if timer:
            argv = [timer, "-f", "%M", "-o", fm.name, *argv]
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env,
                             stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL, stdout=fo, stderr=fe)
        if stdin is not None and p.stdin is not None:
            p.stdin.write(stdin)
            p.stdin.close()
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
        rss_kb = float(usage.ru_maxrss)
        if timer:
            lines = Path(fm.name).read_text().split()
            rss_kb = float(lines[-1]) if lines and lines[-1].isdigit() else rss_kb
    if check and rc != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {rc}: {err.decode(errors='replace')[-2000:]}")
    return Proc(seconds, usage.ru_utime + usage.ru_stime, rss_kb / 1024, rc, out, err)


_GNU_TIME = "/usr/bin/time"


def self_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- peers ---------------------------------------------------------------------------------------------------

def peer_binaries() -> dict[str, Path]:
    """kustomize and kubeconform from scripts/controlplane.sh (built from the Go module proxy, cached)."""
    script = REPO / "scripts" / "controlplane.sh"
    if not script.is_file():
        raise RuntimeError("scripts/controlplane.sh is missing: it builds kustomize and kubeconform")
    p = subprocess.run(["bash", str(script), "peers", "-q"], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"scripts/controlplane.sh peers failed: {p.stderr.strip()[-500:]}")
    out: dict[str, Path] = {}
    for line in p.stdout.splitlines():
        name, sep, path = line.partition("=")
        if sep and Path(path).is_file():
            out[name] = Path(path)
    return out


def version_of(binary: Path, *args: str) -> str:
    try:
        p = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


# --- machine ---------------------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import pydantic
    import yaml

    commit = "?"
    if shutil.which("git"):
        p = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        commit = p.stdout.strip() or "?"
    from kfconf import __version__

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "pyyaml": yaml.__version__,
        "libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
        "pydantic": pydantic.VERSION,
        "kfconf": __version__,
        "commit": commit,
        "loadavg_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
