"""Scaling: build 1, 10, 100, 1,000 projects × 3 environments; the cost per project should stay flat.

Each size runs in a fresh interpreter (so its peak RSS is its own): it builds one project first (imports,
compiled schemas, first-use costs stay out of the per-project number), then times load → validate →
render → check → emit of every project × environment, keeping nothing but a digest of the output — the
way `kfconf build --all` streams trees to disk. The headline ratio is the per-project cost at 1,000
divided by that at 100: 1.0 is perfectly linear.
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

_CHILD = "import sys; from bench.scaling_bench import child; child(sys.argv[1], int(sys.argv[2]))"


def child(listing: str, n: int) -> None:
    """Runs in the measured process: build the projects listed in LISTING (one folder a line)."""
    from kfconf.build import build_project
    from kfconf.build.emit import render_tree

    projects = [Path(p) for p in Path(listing).read_text().split("\n") if p][:n]
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


def run(quick: bool) -> list[dict[str, Any]]:
    sizes = (1, 10, 30) if quick else (1, 10, 100, 1000)
    reps = 1 if quick else 3
    projects = workspace.projects(max(sizes))
    listing = workspace.root() / f"scaling-{max(sizes)}.txt"
    listing.write_text("\n".join(str(p) for p in projects) + "\n")
    rows: list[dict[str, Any]] = []
    per: dict[int, harness.Timing] = {}
    mem: dict[int, float] = {}
    for n in sizes:
        samples = []
        for _ in range(reps):
            proc = harness.run([sys.executable, "-c", _CHILD, str(listing), str(n)], cwd=harness.REPO)
            info = json.loads(proc.stdout.decode().strip().splitlines()[-1])
            samples.append(harness.Cost(info["cpu"] / n, info["wall"] / n))
            mem[n] = max(mem.get(n, 0.0), proc.max_rss_mb)
        per[n] = harness.Timing.of(samples)
        rows.append(harness.row(f"scaling: {n} project{'s' * (n > 1)} × 3 envs, per project", per[n], "", None, "",
                                unit="s", memory_mb=round(mem[n], 1), resources=info["resources"],
                                note=f"total {per[n].median * n:.2f} s, {info['resources']} resources, peak RSS "
                                     f"{mem[n]:.0f} MB"))
    big, small = sizes[-1], sizes[-2]
    rows.append(harness.row(f"scaling: per-project cost at {big} vs {small} projects", per[big],
                            f"per-project cost at {small}", per[small], TARGET, unit="s",
                            memory_mb=round(mem[big], 1),
                            note=f"peak RSS {mem[small]:.0f} MB at {small}, {mem[big]:.0f} MB at {big}"))
    return rows
