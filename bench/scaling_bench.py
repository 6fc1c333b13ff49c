"""Scaling: build 1, 10, 100, 1,000 projects × 3 environments; the cost per project should stay flat.

Each size runs in a fresh interpreter (so its peak RSS is its own): it builds one project first (imports,
compiled schemas, first-use costs stay out of the per-project number), then times load → validate →
render → check → emit of every project × environment, keeping nothing but a digest of the output — the
way `kfconf build --all` streams trees to disk. The headline ratio is the per-project cost of one process
building 1,000 projects divided by that of ten processes building 100 each — the same 1,000 projects, so
the mix of project shapes cannot pass for non-linearity: 1.0 is perfectly linear.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import harness, workspace
from bench.generator import ENVS

TARGET = harness.le(1.2)

_CHILD = "import sys; from bench.scaling_bench import child; child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"


def child(listing: str, start: int, n: int) -> None:
    """Runs in the measured process: build projects START..START+N of LISTING (one folder a line)."""
    from kfconf.build import build_project
    from kfconf.build.emit import render_tree

    projects = [Path(p) for p in Path(listing).read_text().split("\n") if p][start:start + n]
    cwd = Path.cwd()
    build_project(projects[0], ENVS[0], cwd=cwd)  # warm-up: imports, schema compilation
    digest = hashlib.sha256()
    resources = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for p in projects:
        for env in ENVS:
            r = build_project(p, env, cwd=cwd)
            for name, text in render_tree(r.resources).items():
                digest.update(name.encode())
                digest.update(text.encode())
            resources += len(r.resources)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"cpu": cpu, "wall": wall, "resources": resources, "digest": digest.hexdigest()}))


def _build(listing: Path, start: int, n: int) -> tuple[harness.Cost, int, float]:
    proc = harness.run([sys.executable, "-c", _CHILD, str(listing), str(start), str(n)], cwd=harness.REPO)
    info = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return harness.Cost(info["cpu"], info["wall"]), int(info["resources"]), proc.max_rss_mb


def run(quick: bool) -> list[dict[str, Any]]:
    """Sizes 1 and 10 are the first projects; the size below the largest runs as slices that together
    build the same projects as the largest run, so the headline ratio compares equal work — the mix of
    project shapes differs between the first 100 projects and all 1,000."""
    small, big = (10, 30) if quick else (100, 1000)
    reps = 1 if quick else 2
    projects = workspace.projects(big)
    listing = workspace.root() / f"scaling-{big}.txt"
    listing.write_text("\n".join(str(p) for p in projects) + "\n")
    rows: list[dict[str, Any]] = []
    for n in (1, 10) if not quick else (1,):
        costs, mem = [], 0.0
        for _ in range(reps):
            cost, resources, rss = _build(listing, 0, n)
            costs.append(harness.Cost(cost.cpu / n, cost.wall / n))
            mem = max(mem, rss)
        t = harness.Timing.of(costs)
        rows.append(harness.row(f"scaling: {n} project{'s' * (n > 1)} × 3 envs (the first), per project", t, "",
                                None, "", unit="s", memory_mb=round(mem, 1), resources=resources,
                                note=f"{resources} resources, peak RSS {mem:.0f} MB"))
    per_small: list[harness.Cost] = []
    per_big: list[harness.Cost] = []
    mem_small = mem_big = 0.0
    for _ in range(reps):
        total = harness.Cost(0.0, 0.0)
        res_small = 0
        for start in range(0, big, small):
            cost, resources, rss = _build(listing, start, small)
            total += cost
            res_small += resources
            mem_small = max(mem_small, rss)
        per_small.append(harness.Cost(total.cpu / big, total.wall / big))
        cost, res_big, rss = _build(listing, 0, big)
        per_big.append(harness.Cost(cost.cpu / big, cost.wall / big))
        mem_big = max(mem_big, rss)
    if res_small != res_big:
        raise RuntimeError(f"the slices rendered {res_small} resources, the whole run {res_big}")
    ts, tb = harness.Timing.of(per_small), harness.Timing.of(per_big)
    rows.append(harness.row(f"scaling: {small} projects × 3 envs, per project ({big // small} runs of {small})", ts,
                            "", None, "", unit="s", memory_mb=round(mem_small, 1),
                            note=f"the same {big} projects as the next row, {small} per process; peak RSS "
                                 f"{mem_small:.0f} MB"))
    rows.append(harness.row(f"scaling: {big} projects × 3 envs, per project (one run)", tb, "", None, "", unit="s",
                            memory_mb=round(mem_big, 1),
                            note=f"total {tb.median * big:.1f} s CPU, {res_big} resources, peak RSS {mem_big:.0f} MB"))
    rows.append(harness.row(f"scaling: per-project cost at {big} vs {small} projects (same projects)", tb,
                            f"per-project cost at {small}", ts, TARGET, unit="s", memory_mb=round(mem_big, 1),
                            note=f"peak RSS {mem_small:.0f} MB per {small}-project process, {mem_big:.0f} MB for "
                                 f"{big}"))
    return rows
