"""Check reports in SARIF 2.1.0 (validated against the official schema), GitHub annotations and JUnit XML,
each pointing at the spec file and line of a policy violation."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from tests.review.conftest import DEMO, DEMO_PROD, kfconf, write_project

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture
def violation(tmp_path: Path) -> tuple[Path, int]:
    """The prod overlay no longer pins the trainer image: KF510 at the spec's `trainer:` line."""
    prod = json.loads(json.dumps(DEMO_PROD))
    prod["spec"].pop("images")
    project = write_project(tmp_path / "demo", DEMO, {"prod": prod})
    line = next(i for i, t in enumerate((project / "ml-project.yaml").read_text().splitlines(), 1)
                if "trainer: ghcr.io" in t)
    (tmp_path / "policy.yaml").write_text(
        "exemptions:\n  - {rule: KF516, entry: serving/model, reason: batch scoring only}\n"
        "rules:\n  KF519: error\n")
    return tmp_path, line


def test_sarif_is_valid_and_points_at_the_spec_line(violation: tuple[Path, int]) -> None:
    root, line = violation
    r = kfconf("check", "demo", "-o", "sarif", cwd=root)
    assert r.code == 1
    doc = json.loads(r.out)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(doc)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    result = next(res for res in run["results"] if res["ruleId"] == "KF510")
    assert rules[result["ruleIndex"]] == "KF510"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "demo/ml-project.yaml"
    assert loc["region"]["startLine"] == line
    assert result["level"] == "error"


def test_sarif_keeps_exempted_findings_as_suppressed(violation: tuple[Path, int]) -> None:
    root, _ = violation
    prod = json.loads(json.dumps(DEMO_PROD))
    prod["spec"]["serving"] = [{"name": "model", "replicas": {"min": 1}}]
    write_project(root / "demo", DEMO, {"prod": prod})
    r = kfconf("check", "demo", "--policy", "policy.yaml", "-o", "sarif", cwd=root)
    doc = json.loads(r.out)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(doc)
    suppressed = [res for res in doc["runs"][0]["results"] if res.get("suppressions")]
    assert [(s["ruleId"], s["suppressions"][0]["justification"]) for s in suppressed] == [
        ("KF516", "batch scoring only")]
    assert r.code == 0  # KF519 (error by policy) is satisfied by the prod overlay's timeout


def test_github_annotations_point_at_the_spec_line(violation: tuple[Path, int]) -> None:
    root, line = violation
    r = kfconf("check", "demo", "-o", "github", cwd=root)
    assert r.code == 1
    first = r.out.splitlines()[0]
    assert first.startswith(f"::error file=demo/ml-project.yaml,line={line},col=")
    assert ",title=KF510 image-digest::expected an image pinned by digest" in first
    assert "%0Ahint%3A" not in first and "%0Ahint: " in first  # newlines escaped in the message only
    assert r.out.splitlines()[-1].startswith("::notice title=kfconf check::checked 1 project")


def test_junit_xml(violation: tuple[Path, int]) -> None:
    root, line = violation
    r = kfconf("check", "demo", "-o", "junit", cwd=root)
    assert r.code == 1
    tree = ET.fromstring(r.out.split("\n", 1)[1])
    assert tree.tag == "testsuites"
    assert int(tree.get("failures", "0")) == 1
    failed = [case for case in tree.iter("testcase") if case.find("failure") is not None]
    assert len(failed) == 1
    case = failed[0]
    assert case.get("name") == "KF510 image-digest [prod]"
    assert (case.get("file"), case.get("line")) == ("demo/ml-project.yaml", str(line))
    assert case.find("failure").get("type") == "KF510"  # type: ignore[union-attr]
    passed = [c for c in tree.iter("testcase") if c.find("failure") is None]
    assert any(c.get("name") == "KF510 image-digest [base]" for c in passed) is False  # production-only rule
    assert any(c.get("name", "").startswith("KF513 gpu-quota") for c in passed)


def test_extra_reports_from_one_run(violation: tuple[Path, int]) -> None:
    root, line = violation
    r = kfconf("check", "demo", "-o", "github", "--report", "sarif=out/k.sarif", "--report", "json=out/k.json",
               cwd=root)
    assert r.code == 1
    assert json.loads((root / "out/k.sarif").read_text())["version"] == "2.1.0"
    assert json.loads((root / "out/k.json").read_text())["findings"][0]["line"] == line
    bad = kfconf("check", "demo", "--report", "pdf=x.pdf", cwd=root)
    assert bad.code == 2 and "FORMAT=FILE" in bad.err
