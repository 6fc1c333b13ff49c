"""Incremental build: after one project of N changed, rebuilding all N × 3 environments through the
content-addressed cache (kfconf/build/cache.py) costs at most 5 % of a cold build.

Cold: an empty cache, every project × environment built, emitted and stored. Warm: the same loop after a
real change to one project (its trainer image tag, a new tag each repetition, so each repetition really
rebuilds that project): 3 misses, the rest hits. Both produce the emitted trees (what `kfconf build -o`
writes); writing them to disk is outside both timings, as in the build benchmark. The benchmark also
checks that hits return the same files as the cold build and the changed project returns new ones.
"""

from __future__ import annotations

import re
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from bench import harness, workspace
from bench.generator import ENVS

TARGET = harness.le(0.05)


def _bump(spec: Path, rep: int) -> None:
    text = spec.read_text(encoding="utf-8")
    new, n = re.subn(r"(trainer: '?ghcr\.io/[^:'\s]+:)[^'\s,}]+", rf"\g<1>9.{rep}.0", text, count=1)
    if n != 1:
        raise RuntimeError(f"{spec}: no trainer image to change")
    spec.write_text(new, encoding="utf-8")


def run(quick: bool) -> list[dict[str, Any]]:
    from kfconf.build import build_project
    from kfconf.build.cache import BuildCache

    n = 20 if quick else 200
    reps = 2 if quick else 5
    # a private copy: this benchmark edits a spec
    src = workspace.projects(n)
    root = workspace.scratch(f"incremental-{n}")
    projects = []
    for p in src:
        dst = root / p.relative_to(src[0].parent.parent)
        shutil.copytree(p, dst)
        projects.append(dst)
    # a project whose training entries use the named trainer image, so the change reaches its output
    changed = next(p for p in projects if "image: trainer" in (p / "ml-project.yaml").read_text())
    cache_dir = root.parent / f"incremental-{n}-cache"
    cwd = Path.cwd()

    def build_all(cache: BuildCache) -> dict[tuple[str, str], dict[str, str]]:
        out = {}
        for p in projects:
            for env in ENVS:
                r = build_project(p, env, cwd=cwd, cache=cache)
                assert r.files is not None
                out[(str(p), env)] = r.files
        return out

    cold_s: list[harness.Cost] = []
    warm_s: list[harness.Cost] = []
    noop_s: list[harness.Cost] = []
    misses: list[int] = []
    for rep in range(reps):
        shutil.rmtree(cache_dir, ignore_errors=True)
        t, cold = harness.clock(lambda: build_all(BuildCache(cache_dir)))
        cold_s.append(t)
        cache = BuildCache(cache_dir)
        t, same = harness.clock(partial(build_all, cache))
        noop_s.append(t)
        if same != cold or cache.misses:
            raise RuntimeError("a rebuild without changes differs from the cold build or missed the cache")
        _bump(changed / "ml-project.yaml", rep)
        cache = BuildCache(cache_dir)
        t, warm = harness.clock(partial(build_all, cache))
        warm_s.append(t)
        misses.append(cache.misses)
        diff = {k for k in cold if cold[k] != warm[k]}
        if not diff or any(k[0] != str(changed) for k in diff):
            raise RuntimeError(f"expected only {changed.name} to change, got {sorted(diff)[:3]}")
    cold_t, warm_t, noop_t = harness.Timing.of(cold_s), harness.Timing.of(warm_s), harness.Timing.of(noop_s)
    builds = n * len(ENVS)
    return [
        harness.row(f"incremental: rebuild {n} projects × 3 envs after 1 project changed", warm_t,
                    f"kfconf cold build of the same {builds} (empty cache)", cold_t, TARGET, unit="s",
                    misses=max(misses),
                    note=f"{max(misses)} misses, {builds - max(misses)} hits; no-change rebuild "
                         f"{noop_t.median * 1000:.0f} ms ({noop_t.median / cold_t.median:.1%} of cold)"),
    ]
