"""Secrets: literal values are refused wherever they are written, and no value ever reaches an error,
a JSON/SARIF/GitHub report, a diff or a PR comment."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghp_" + "Zx9" * 12  # shaped like a GitHub token; never a real one
AWS = "AKIA" + "Q" * 16


def kfconf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kfconf.cli.main", *args], cwd=cwd, capture_output=True, text=True)


def churn(tmp_path: Path, old: str, new: str) -> Path:
    d = tmp_path / "churn"
    shutil.copytree(ROOT / "examples" / "churn", d, ignore=shutil.ignore_patterns(".kfconf"))
    spec = d / "ml-project.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    return d


PLACES = {
    "env-by-name": ("FEATURES: features", "DB_PASSWORD: hunter2-hunter2"),
    "env-by-shape": ("FEATURES: features", f"GH: {TOKEN}"),
    "training-args": ("args: {lr: 0.01,", f"args: {{token: {TOKEN}, lr: 0.01,"),
    "command-line": ("command: [python, train.py]", f"command: [python, train.py, --key={AWS}]"),
    "uri-password": ("uri: s3://acme-ml/churn/features", "uri: s3://admin:s3cr3t-pw@acme-ml/churn/features"),
    "pipeline-step": ("print('tuning done')", f"print('{TOKEN}')"),
}
SECRETS = {"env-by-name": "hunter2-hunter2", "env-by-shape": TOKEN, "training-args": TOKEN, "command-line": AWS,
           "uri-password": "s3cr3t-pw", "pipeline-step": TOKEN}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_literal_secret_is_refused_and_never_echoed(place: str, tmp_path: Path) -> None:
    d = churn(tmp_path, *PLACES[place])
    outputs = []
    r = kfconf("validate", str(d), cwd=tmp_path)
    assert r.returncode == 1 and "[KF208]" in r.stderr, r.stderr
    outputs.append(r.stdout + r.stderr)
    r = kfconf("validate", str(d), "-o", "json", cwd=tmp_path)
    outputs.append(r.stdout + r.stderr)
    reports = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "sarif", "github", "junit")}
    r = kfconf("check", str(d), *[a for fmt, f in reports.items() for a in ("--report", f"{fmt}={f}")], cwd=tmp_path)
    assert r.returncode != 0
    outputs.append(r.stdout + r.stderr)
    outputs.extend(f.read_text() for f in reports.values() if f.exists())
    r = kfconf("build", str(d), cwd=tmp_path)
    assert r.returncode == 1
    outputs.append(r.stdout + r.stderr)
    for out in outputs:
        assert SECRETS[place] not in out


def test_diff_and_pr_comment_never_show_a_secret(tmp_path: Path) -> None:
    d = churn(tmp_path, "FEATURES: features", "FEATURES: features")
    repo = git.Repo.init(tmp_path)
    repo.index.add([str(p.relative_to(tmp_path)) for p in d.rglob("*") if p.is_file()])
    repo.index.commit("base")
    spec = d / "ml-project.yaml"
    spec.write_text(spec.read_text().replace("FEATURES: features", f"FEATURES: features\n        GH: {TOKEN}"))
    for fmt in ("text", "markdown", "json"):
        r = kfconf("diff", str(d), "--base", "HEAD", "-o", fmt, "--output-file", str(tmp_path / f"full.{fmt}"),
                   cwd=tmp_path)
        assert r.returncode in (1, 2)
        assert TOKEN not in r.stdout + r.stderr
        full = tmp_path / f"full.{fmt}"
        assert not full.exists() or TOKEN not in full.read_text()
