"""`kfconf diff` in a monorepo where one project changed, against building that one project.

A git repository of N generated projects (bench/generator.py) gets a second commit that changes one
project's spec. `kfconf diff --base HEAD~1 --head HEAD -e ENV` must find that project from the git trees
and render it at both revisions; the other N − 1 projects must cost nothing but a listing. The peer is
`kfconf build PROJECT -e ENV` of the same project in the same environment. Both are fresh CLI processes,
as a CI job runs them, timed alternately. The target, ≤ 2×, holds only when nothing is rendered beyond
the changed project: rendering it twice is the floor, and a fresh process's start-up is shared by both.

A second row runs the same two calls in-process (no start-up): there the floor is the two renders, so
that ratio shows what the git side (listing trees, reading blobs, diffing, the report) adds on top.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bench import harness, workspace

TARGET = harness.le(2)
ENV = "prod"


def kfconf_command() -> list[str]:
    script = Path(sys.executable).parent / "kfconf"
    if script.is_file():
        return [str(script)]
    found = shutil.which("kfconf")
    return [found] if found else [sys.executable, "-m", "kfconf.cli.main"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false",
                    *args], cwd=repo, check=True, capture_output=True)


def change_one(project: Path) -> str:
    """A change a reviewer would see in every environment: a new environment variable on the first
    training job (or serving entry), which no overlay overrides."""
    spec_file = project / "ml-project.yaml"
    doc = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    section = "training" if doc["spec"].get("training") else "serving"
    entry = doc["spec"][section][0]
    entry.setdefault("env", {})["BENCH_FEATURE_FLAG"] = "on"
    spec_file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return f"{section}/{entry['name']}.env.BENCH_FEATURE_FLAG added"


def make_repo(n: int) -> tuple[Path, Path, str]:
    """(repository, the changed project, what changed): N projects in one commit, one changed in the next."""
    repo = workspace.scratch(f"diff-monorepo-{n}")
    projects = workspace.projects(n)
    src = projects[0].parent.parent  # ROOT/<team>/<project>
    shutil.copytree(src, repo / "projects")
    moved = [repo / "projects" / p.relative_to(src) for p in projects]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"{n} projects")
    candidates = [p for p in moved if (p / "overlays" / f"{ENV}.yaml").is_file()
                  and {"training", "serving"} & set(yaml.safe_load((p / "ml-project.yaml").read_text())["spec"])]
    # the largest project: rendering it is the most of the diff's cost, the hardest case for the 2× claim
    target = max(candidates, key=lambda p: (len((p / "ml-project.yaml").read_text().splitlines()), p.name))
    what = change_one(target)
    _git(repo, "commit", "-q", "-am", f"change {target.name}")
    return repo, target, what


def run(quick: bool) -> list[dict[str, Any]]:
    n = 40 if quick else 200
    reps = 3 if quick else 9
    repo, target, what = make_repo(n)
    rel = target.relative_to(repo)
    kf = kfconf_command()
    diff_cmd = [*kf, "diff", "--base", "HEAD~1", "--head", "HEAD", "-e", ENV, "-o", "json"]
    build_cmd = [*kf, "build", str(rel), "-e", ENV]
    out: dict[str, bytes] = {}

    def diff() -> None:
        p = harness.run(diff_cmd, cwd=repo, check=False)
        if p.returncode != 1:  # 1: differences found, as there must be
            raise RuntimeError(f"kfconf diff exited {p.returncode}: {p.stderr.decode(errors='replace')[-1500:]}")
        out["diff"] = p.stdout

    def build() -> None:
        harness.run(build_cmd, cwd=repo)

    k, b = harness.compare(diff, build, reps, warmup=1)
    import json

    report = json.loads(out["diff"])
    if report["affected"] != [str(rel)] or report["projects"] != n:
        raise RuntimeError(f"expected only {rel} of {n} projects affected, got {report['affected']} of "
                           f"{report['projects']}")
    changed = sum(len(s["changes"]) for s in report["sections"])
    rows = [harness.row(f"diff, {n}-project monorepo, 1 changed ({ENV}), CLI", k, f"kfconf build of that project "
                        f"({ENV}), CLI", b, TARGET, unit="s",
                        note=f"{what}; {changed} resource change(s); only {rel} rendered")]

    # in-process, without start-up: what the git side (listing both trees, diffing them, reading the changed
    # project's blobs into a scratch folder) and the comparison add to the two renders. Informational: with a
    # warm interpreter a small project renders in milliseconds, so git's own process spawns dominate.
    from kfconf.build import build_project
    from kfconf.review.compare import compare

    def diff_lib() -> None:
        compare(repo, "HEAD~1", "HEAD", [ENV])

    def build_lib() -> None:
        build_project(target, ENV, None, cwd=repo, check=False)

    k2, b2 = harness.compare(diff_lib, build_lib, reps, warmup=1)
    rows.append(harness.row(f"diff, {n}-project monorepo, 1 changed ({ENV}), in-process", k2,
                            "build_project of that project (no output check), in-process", b2, "", unit="s",
                            note=f"informational: git side and comparison add "
                                 f"{(k2.median - 2 * b2.median) * 1000:.0f} ms over two renders"))
    return rows
