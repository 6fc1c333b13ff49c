"""Monorepo: only the projects (and environments) whose inputs changed are rendered."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import kfconf.build as kbuild
from kfconf.review.compare import compare
from kfconf.review.gitplan import affected, only_other_overlays, owner
from tests.review.conftest import DEMO, DEMO_PROD, Repo, dump, edit_spec, kfconf, write_project

TEAMS = ("teams/a/alpha", "teams/b/beta", "teams/c/gamma")


@pytest.fixture
def mono(repo: Repo) -> Repo:
    for i, folder in enumerate(TEAMS):
        spec = copy.deepcopy(DEMO)
        spec["metadata"]["name"] = folder.rsplit("/", 1)[1]
        spec["spec"]["profile"]["namespace"] = f"team-{i}"
        write_project(repo.root / folder, spec, {"prod": DEMO_PROD, "dev": {
            "apiVersion": "kfconf.dev/v1alpha1", "kind": "Overlay",
            "spec": {"serving": [{"name": "model", "replicas": {"min": 1}}]}}})
    (repo.root / "README.md").write_text("monorepo\n")
    repo.commit("three projects")
    return repo


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Every build the diff makes: (project folder relative to its revision's root, environment)."""
    calls: list[tuple[str, str | None]] = []
    real = kbuild.build_project

    def spy(project_dir: Path, env: str | None = None, stack: str | None = None, cwd: Path | None = None,
            check: bool = True) -> Any:
        calls.append((project_dir.relative_to(cwd).as_posix() if cwd else str(project_dir), env))
        return real(project_dir, env, stack, cwd, check)

    monkeypatch.setattr(kbuild, "build_project", spy)
    return calls


def test_only_the_changed_project_is_rendered(mono: Repo, builds: list[tuple[str, str | None]]) -> None:
    edit_spec(mono.root / "teams/b/beta", lambda d: d["spec"]["training"][0].update(nodes=3))
    mono.commit("beta: three nodes")
    report = compare(mono.root, "HEAD~1", "HEAD")
    assert report.projects == 3 and report.affected == ["teams/b/beta"]
    assert {folder for folder, _ in builds} == {"teams/b/beta"}
    # base + each overlay, at both revisions
    assert sorted(builds, key=str) == sorted([(f, e) for f in ["teams/b/beta"] for e in (None, "dev", "prod")] * 2,
                                             key=str)
    assert {(s.path, s.env_name) for s in report.changed} == {("teams/b/beta", e) for e in ("base", "dev", "prod")}
    assert report.exit_code() == 1


def test_one_overlay_renders_one_environment_twice(mono: Repo, builds: list[tuple[str, str | None]]) -> None:
    overlay = mono.root / "teams/a/alpha/overlays/dev.yaml"
    overlay.write_text(dump({"apiVersion": "kfconf.dev/v1alpha1", "kind": "Overlay",
                             "spec": {"serving": [{"name": "model", "replicas": {"min": 1, "max": 2}}]}}))
    mono.commit("alpha dev: max 2")
    report = compare(mono.root, "HEAD~1", "HEAD")
    # every environment's head is rendered; only dev's base is, the others read nothing that changed
    assert sorted(builds, key=str) == sorted([("teams/a/alpha", None), ("teams/a/alpha", "prod"),
                                              ("teams/a/alpha", "dev"), ("teams/a/alpha", "dev")], key=str)
    assert [(s.env_name, s.skipped_base) for s in report.sections] == [("base", True), ("dev", False),
                                                                      ("prod", True)]
    assert [(s.env_name, [c.id for c in s.changes]) for s in report.changed] == [
        ("dev", ["InferenceService/team-0/model"])]


def test_a_change_outside_every_project_renders_nothing(mono: Repo, builds: list[tuple[str, str | None]]) -> None:
    (mono.root / "README.md").write_text("monorepo, documented\n")
    mono.commit("docs")
    r = kfconf("diff", "--base", "HEAD~1", "--head", "HEAD", cwd=mono.root)
    assert r.code == 0 and "0 of 3 project(s) affected" in r.out
    assert builds == []


def test_added_and_removed_projects(mono: Repo) -> None:
    import shutil

    shutil.rmtree(mono.root / "teams/c/gamma")
    spec = copy.deepcopy(DEMO)
    spec["metadata"]["name"] = "delta"
    spec["spec"]["profile"]["namespace"] = "team-d"
    write_project(mono.root / "teams/d/delta", spec)
    mono.commit("gamma out, delta in")
    report = compare(mono.root, "HEAD~1", "HEAD", envs=[None])
    notes = {s.path: (s.note, {c.op for c in s.changes}) for s in report.sections}
    assert notes == {"teams/c/gamma": ("project removed", {"remove"}), "teams/d/delta": ("new project", {"add"})}


def test_path_limits_the_projects(mono: Repo, builds: list[tuple[str, str | None]]) -> None:
    for folder in TEAMS:
        edit_spec(mono.root / folder, lambda d: d["spec"]["training"][0].update(nodes=5))
    mono.commit("all three")
    report = compare(mono.root / "teams/a", "HEAD~1", "HEAD", envs=[None])
    assert report.affected == ["teams/a/alpha"] and report.projects == 1
    assert {f for f, _ in builds} == {"teams/a/alpha"}


def test_plan_helpers() -> None:
    projects = ["", "svc", "svc/nested"]
    assert owner("svc/nested/overlays/dev.yaml", projects) == "svc/nested"
    assert owner("svc/ml-project.yaml", projects) == "svc"
    assert owner("README.md", projects) == ""
    assert owner("README.md", ["svc"]) is None
    assert affected(["svc/nested/ml-project.yaml", "svc/jobs/x.py", "docs/a.md"], ["svc", "svc/nested"]) == {
        "svc": {"jobs/x.py"}, "svc/nested": {"ml-project.yaml"}}
    assert only_other_overlays({"overlays/dev.yaml"}, ["ml-project.yaml", "overlays/prod.yaml"])
    assert not only_other_overlays({"overlays/dev.yaml"}, ["ml-project.yaml", "overlays/dev.yaml"])
    assert not only_other_overlays({"stacks/mine.yaml"}, ["ml-project.yaml"])
