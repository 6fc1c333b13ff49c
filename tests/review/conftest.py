"""Helpers for the review tests: real git repositories in tmp dirs (gitpython), projects written as
YAML, and the CLI run in-process with its exit code and both streams."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHURN = REPO_ROOT / "examples" / "churn"

DEMO: dict[str, Any] = {
    "apiVersion": "kfconf.dev/v1alpha1",
    "kind": "MLProject",
    "metadata": {"name": "demo", "owner": "a@example.com"},
    "spec": {
        "profile": {"namespace": "team-a", "quota": {"cpu": "64", "memory": "256Gi", "gpu": 4}},
        "images": {"trainer": "ghcr.io/acme/train:1.0"},
        "training": [{"name": "train", "image": "trainer", "command": ["python", "train.py"], "nodes": 2,
                      "resources": {"cpu": 2, "memory": "8Gi", "gpu": 1}}],
        "serving": [{"name": "model", "model": "s3://acme/model", "format": "sklearn",
                     "replicas": {"min": 2, "max": 4}, "resources": {"cpu": 1, "memory": "2Gi"}}],
    },
}
DIGEST = "sha256:4b8c9a1f0e5d2c3b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b"
DEMO_PROD: dict[str, Any] = {
    "apiVersion": "kfconf.dev/v1alpha1",
    "kind": "Overlay",
    "spec": {"images": {"trainer": f"ghcr.io/acme/train@{DIGEST}"},
             "training": [{"name": "train", "timeoutSeconds": 3600}]},
}


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=200)


def write_project(folder: Path, spec: dict[str, Any], overlays: dict[str, dict[str, Any]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ml-project.yaml").write_text(dump(spec), encoding="utf-8")
    for env, body in (overlays or {}).items():
        (folder / "overlays").mkdir(exist_ok=True)
        (folder / "overlays" / f"{env}.yaml").write_text(dump(body), encoding="utf-8")
    return folder


def read_spec(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "ml-project.yaml").read_text(encoding="utf-8"))


def edit_spec(folder: Path, fn: Any) -> None:
    doc = read_spec(folder)
    fn(doc)
    (folder / "ml-project.yaml").write_text(dump(doc), encoding="utf-8")


def copy_churn(dest: Path) -> Path:
    shutil.copytree(CHURN, dest)
    return dest


class Repo:
    """A real git repository in a tmp dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = git.Repo.init(root, initial_branch="main")
        with self.repo.config_writer() as cw:
            cw.set_value("user", "name", "kfconf test")
            cw.set_value("user", "email", "test@example.com")
            cw.set_value("commit", "gpgsign", "false")

    def commit(self, message: str) -> str:
        self.repo.git.add(A=True)
        self.repo.git.commit("--allow-empty", "-q", "-m", message)
        return self.repo.head.commit.hexsha


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@dataclass
class Result:
    code: int
    out: str
    err: str


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def kfconf(*args: str, cwd: Path) -> Result:
    """`kfconf ARGS` in-process, in CWD."""
    from kfconf.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())
