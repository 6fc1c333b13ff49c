"""`kfconf publish` from the command line: a real example project into a bare GitOps repository."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import pytest

from kfconf.build import build_project
from kfconf.build.emit import render_tree
from kfconf.cli.main import main

REPO = Path(__file__).resolve().parents[2]
CHURN = REPO / "examples" / "churn"


def kfconf(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def test_publish_an_example_then_nothing_to_do(tmp_path: Path) -> None:
    gitops = tmp_path / "gitops.git"
    git("init", "-q", "--bare", "--initial-branch=main", str(gitops))
    code, out, err = kfconf("publish", str(CHURN), "-e", "prod", "--repo", str(gitops), "--path", "churn/prod",
                            "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    want = render_tree(build_project(CHURN, "prod", cwd=REPO).resources)
    assert sorted(report["added"]) == sorted(k for k in want if k != "kustomization.yaml")
    assert report["changed"] == report["removed"] == []
    for rel, text in want.items():
        assert git("--git-dir", str(gitops), "show", f"main:churn/prod/{rel}") == text
    source_head = git("-C", str(REPO), "rev-parse", "HEAD").strip()
    assert report["source"]["commit"] == source_head
    msg = git("--git-dir", str(gitops), "log", "-1", "--format=%B", "main")
    assert f"Kfconf-Source-Commit: {source_head}" in msg and "churn/prod" in msg

    code, out, _ = kfconf("publish", str(CHURN), "-e", "prod", "--repo", str(gitops), "--path", "churn/prod")
    assert code == 0 and out.startswith("nothing to publish")
    assert git("--git-dir", str(gitops), "rev-list", "--count", "main").strip() == "1"


def test_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # --push keeps a private clone there
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ml-project.yaml").write_text("apiVersion: kfconf.dev/v1alpha1\nkind: MLProject\nmetadata: {name: x}\n"
                                         "spec: {profile: {namespace: Team_A}}\n")
    gitops = tmp_path / "gitops.git"
    git("init", "-q", "--bare", "--initial-branch=main", str(gitops))
    code, _, err = kfconf("publish", str(bad), "--repo", str(gitops), "--path", "x")
    assert code == 1 and "error[" in err
    assert git("--git-dir", str(gitops), "for-each-ref").strip() == ""  # nothing published

    code, _, err = kfconf("publish", str(CHURN), "-e", "prod", "--repo", "file:///nonexistent/gitops.git",
                          "--path", "x", "--push")
    assert code == 2 and "error[KF601]" in err and "nothing published" in err and "Traceback" not in err
