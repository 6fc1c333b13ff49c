"""The command line as a user meets it: init, validate, schema, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def kfconf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kfconf.cli.main", *args], cwd=cwd, capture_output=True, text=True)


def test_init_scaffolds_a_project_that_validates(tmp_path: Path) -> None:
    r = kfconf("init", str(tmp_path / "fraud-model"))
    assert r.returncode == 0, r.stderr
    spec = (tmp_path / "fraud-model" / "ml-project.yaml").read_text()
    assert spec.startswith("# yaml-language-server: $schema=")
    assert "name: fraud-model" in spec
    assert (tmp_path / "fraud-model" / "train.py").is_file()
    v = kfconf("validate", str(tmp_path / "fraud-model"))
    assert v.returncode == 0, v.stderr
    assert "0 errors" in v.stderr


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    r = kfconf("init", str(tmp_path))
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_validate_a_monorepo_as_json() -> None:
    r = kfconf("validate", "examples", "-o", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["projects"] == 2
    assert all(d["severity"] != "error" for d in out["diagnostics"])


def test_validate_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "ml-project.yaml").write_text("apiVersion: kfconf.dev/v1alpha1\nkind: MLProject\n")
    bad = kfconf("validate", str(tmp_path))
    assert bad.returncode == 1 and "[KF102]" in bad.stderr
    missing = kfconf("validate", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr


def test_json_diagnostics_carry_location_and_code(tmp_path: Path) -> None:
    (tmp_path / "ml-project.yaml").write_text("apiVersion: kfconf.dev/v1alpha1\nkind: MLProject\nmetadata: {name: X}\n")
    r = kfconf("validate", str(tmp_path), "-o", "json")
    diags = json.loads(r.stdout)["diagnostics"]
    assert {"code": "KF106", "line": 3, "column": 12} in [
        {k: d[k] for k in ("code", "line", "column")} for d in diags]


def test_schema_prints_draft07() -> None:
    r = kfconf("schema")
    schema = json.loads(r.stdout)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "definitions" in schema and "$defs" not in json.dumps(schema)


def test_no_command_prints_help_and_exits_2() -> None:
    r = kfconf()
    assert r.returncode == 2 and "usage:" in r.stderr
