"""build N projects × 3 environments: against the libyaml floor and against `kustomize build`.

1. Library: kfconf's build_project (load, overlays, validate, render, post-process, output check) plus
   emit.render_tree, for every project × environment — against the floor of loading the same input files
   with libyaml's C loader and dumping the same output objects with libyaml's C dumper. Target ≤ 3×.
2. Whole process: `kfconf build ROOT --all -o OUT` (start-up, every build, the trees written to disk)
   against `kustomize build` of an equivalent base-and-overlays tree made from kfconf's own output
   (bench/kustomize_tree.py) — one `kustomize build all/ENV` per environment, each rendering every
   project's overlay, output to a file. Target: kfconf faster (< 1×). Before timing, kustomize's output
   is parsed and compared with kfconf's, object by object: the two trees must be equivalent.
3. For reference, the per-application way Argo CD runs kustomize: one `kustomize build` process per
   project × environment (same target).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from bench import harness, kustomize_tree, workspace
from bench.generator import ENVS
from bench.startup_bench import kfconf_command

FLOOR_TARGET = harness.le(3)
PEER_TARGET = harness.lt(1)


def run(quick: bool) -> list[dict[str, Any]]:
    from kfconf.build import build_project
    from kfconf.build.emit import render_tree

    n = 10 if quick else 200
    reps = 2 if quick else 5
    projects = workspace.projects(n)
    cwd = Path.cwd()
    last: dict[tuple[Path, str | None], Any] = {}

    def kfconf() -> None:
        for p in projects:
            for env in ENVS:
                r = build_project(p, env, cwd=cwd)
                last[(p, env)] = (r.inputs, r.resources, render_tree(r.resources))

    kfconf()
    inputs = [f for (_, env), (ins, _, _) in last.items() for f in ins]
    bodies = [yaml.load(text, Loader=yaml.CSafeLoader) for (_, _, files) in last.values()
              for name, text in files.items() if name != "kustomization.yaml"]
    resources = len(bodies)

    def floor() -> None:
        for f in inputs:
            yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        for b in bodies:
            yaml.dump(b, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False, width=4096)

    k, fl = harness.compare(kfconf, floor, reps)
    rows = [harness.row(f"build {n} projects × 3 envs (library: build + emit)", k,
                        "floor: libyaml C load of the inputs + C dump of the outputs", fl, FLOOR_TARGET, unit="s",
                        resources=resources,
                        note=f"{resources} resources, {len(inputs)} input files; "
                             f"{k.median / (n * len(ENVS)) * 1000:.1f} ms per project × env")]
    rows.extend(_vs_kustomize(projects, last, quick))
    return rows


def _vs_kustomize(projects: list[Path], last: dict[tuple[Path, str | None], Any], quick: bool
                  ) -> list[dict[str, Any]]:
    from kfconf.build import build_project

    bins = harness.peer_binaries()
    kustomize = bins.get("kustomize")
    if kustomize is None:
        return [harness.not_run("build vs kustomize", "no kustomize binary from scripts/controlplane.sh peers")]
    version = harness.version_of(kustomize, "version")
    n = len(projects)
    root = projects[0].parent.parent
    ktree = workspace.scratch(f"kustomize-{n}")
    cwd = Path.cwd()
    overlays: dict[str, list[Path]] = {env: [] for env in ENVS}
    for p in projects:
        base = [r.body for r in build_project(p, None, cwd=cwd).resources]
        envs = {env: [r.body for r in last[(p, env)][1]] for env in ENVS}
        dest = ktree / p.relative_to(root)
        kustomize_tree.write_project(dest, base, envs)
        for env in ENVS:
            overlays[env].append(dest / "overlays" / env)
    agg = {env: kustomize_tree.write_aggregate(ktree, env, overlays[env]) for env in ENVS}

    # equivalence: kustomize's output, parsed, equals kfconf's, parsed
    for env in ENVS:
        got = kustomize_tree.parse_stream(harness.run([kustomize, "build", agg[env]]).stdout)
        want: dict[Any, Any] = {}
        for p in projects:
            want.update(kustomize_tree.parse_stream("".join(
                "---\n" + t for name, t in last[(p, env)][2].items() if name != "kustomization.yaml")))
        diff = kustomize_tree.differences(want, got)
        if diff:
            raise RuntimeError(f"kustomize tree is not equivalent for {env}: " + "; ".join(diff))

    out = workspace.root() / f"kfconf-out-{n}"
    kcmd = [*kfconf_command(), "build", str(root), "--all", "-o", str(out)]
    kdir = workspace.root() / f"kustomize-out-{n}"
    kdir.mkdir(exist_ok=True)
    mem: dict[str, float] = {}

    def kfconf_cli() -> harness.Proc:
        shutil.rmtree(out, ignore_errors=True)
        proc = harness.run(kcmd)
        mem["kfconf"] = proc.max_rss_mb
        return proc

    def kustomize_all() -> harness.Cost:
        total = harness.Cost(0.0, 0.0)
        for env in ENVS:
            proc = harness.run([kustomize, "build", agg[env], "-o", str(kdir / f"{env}.yaml")])
            mem["kustomize"] = max(mem.get("kustomize", 0.0), proc.max_rss_mb)
            total += proc.cost
        return total

    def kustomize_per_app() -> harness.Cost:
        total = harness.Cost(0.0, 0.0)
        for env in ENVS:
            for o in overlays[env]:
                total += harness.run([kustomize, "build", o]).cost
        return total

    reps = 2 if quick else 3  # one aggregate kustomize run over 200 projects costs ~50 CPU seconds
    k, peer = harness.compare(kfconf_cli, kustomize_all, reps, warmup=0 if quick else 1)
    resources = sum(len(v[1]) for v in last.values())
    rows = [harness.row(f"build {n} projects × 3 envs: kfconf build --all (process, trees written)", k,
                        f"kustomize build, one per env over all {n} overlays ({version})", peer, PEER_TARGET,
                        unit="s", memory_mb=round(mem["kfconf"], 1), peer_memory_mb=round(mem["kustomize"], 1),
                        note=f"outputs equivalent (parsed, {resources} objects); peak RSS kfconf "
                             f"{mem['kfconf']:.0f} MB, kustomize {mem['kustomize']:.0f} MB")]
    k2, peer2 = harness.compare(kfconf_cli, kustomize_per_app, 1 if quick else 2)
    rows.append(harness.row(f"build {n} projects × 3 envs: kfconf build --all vs one kustomize process per app", k2,
                            f"kustomize build per project × env ({3 * n} processes)", peer2, PEER_TARGET, unit="s",
                            note="how Argo CD / Flux run kustomize: one build per application"))
    return rows


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(r)
