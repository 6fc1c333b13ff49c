"""`kfconf check`: every built-in rule fires on its bad fixture at the spec line, and a good project is clean;
the policy file (settings per environment, severities, custom rules, exemptions) and its errors."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kfconf.review.rules import RULES
from tests.review.conftest import DEMO, DEMO_PROD, Result, kfconf, write_project

Doc = dict[str, Any]


def line_of(path: Path, needle: str, after: str | None = None) -> int:
    """1-based line of the first line containing NEEDLE (after the first line containing AFTER)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, text in enumerate(lines) if after in text) if after else 0
    return next(i for i, text in enumerate(lines) if i >= start and needle in text) + 1


def demo(tmp: Path, spec: Callable[[Doc], None] | None = None, prod: Callable[[Doc], None] | None = None) -> Path:
    s, p = copy.deepcopy(DEMO), copy.deepcopy(DEMO_PROD)
    if spec:
        spec(s)
    if prod:
        prod(p)
    return write_project(tmp / "demo", s, {"prod": p})


def check(tmp: Path, *args: str) -> tuple[Result, list[dict[str, Any]]]:
    r = kfconf("check", "demo", *args, "-o", "json", cwd=tmp)
    assert r.code in (0, 1), r.err
    return r, json.loads(r.out)["findings"]


def test_a_good_project_is_clean(tmp_path: Path) -> None:
    demo(tmp_path)
    r, findings = check(tmp_path)
    assert findings == [] and r.code == 0


def _tuning(doc: Doc) -> None:
    doc["spec"]["training"][0]["args"] = {"lr": 0.1}
    doc["spec"]["profile"]["quota"]["gpu"] = 64
    doc["spec"]["tuning"] = [{"name": "hpo", "trial": "training/train",
                              "objective": {"metric": "acc", "goal": "maximize"}, "algorithm": {"name": "random"},
                              "parameters": {"lr": {"type": "double", "min": 0.01, "max": 0.5}},
                              "budget": {"trials": 500, "parallel": 2, "failures": 3}}]


# code → (spec edit, prod overlay edit, (file, needle, after) of the line the finding must point at, severity)
FIXTURES: dict[str, tuple[Callable[[Doc], None] | None, Callable[[Doc], None] | None, tuple[str, str, str | None],
                          str]] = {
    "KF510": (None, lambda p: p["spec"].pop("images"), ("ml-project.yaml", "trainer: ghcr.io", None), "error"),
    "KF511": (lambda s: s["spec"]["images"].update(trainer="ghcr.io/acme/train:latest"), None,
              ("ml-project.yaml", "trainer: ghcr.io", None), "error"),
    "KF512": (lambda s: s["spec"]["serving"][0].pop("resources"), None, ("ml-project.yaml", "- name: model", None),
              "error"),
    "KF513": (lambda s: s["spec"]["profile"]["quota"].update(gpu=1), None, ("ml-project.yaml", "gpu: 1", "quota"),
              "error"),
    "KF514": (lambda s: (s["metadata"].pop("owner"), s["spec"]["profile"].update(owner="ops@example.com")), None,
              ("ml-project.yaml", "metadata:", None), "error"),
    # a secret-named arg: credentials of a known shape are refused earlier, by validation (KF208)
    "KF515": (lambda s: s["spec"]["training"][0].update(args={"db-password": "plain-text-pw"}),
              None, ("ml-project.yaml", "db-password", None), "error"),
    "KF516": (None, lambda p: p["spec"].update(serving=[{"name": "model", "replicas": {"min": 1}}]),
              ("overlays/prod.yaml", "min: 1", None), "error"),
    "KF517": (_tuning, None, ("ml-project.yaml", "trials: 500", None), "error"),
    "KF518": (lambda s: s["spec"]["profile"]["quota"].update(cpu="1"), None, ("ml-project.yaml", "cpu: '1'", "quota"),
              "warning"),
    "KF519": (None, lambda p: p["spec"].pop("training"), ("ml-project.yaml", "- name: train", None), "warning"),
}


def test_every_rule_has_a_fixture() -> None:
    assert sorted(FIXTURES) == sorted(r.code for r in RULES)


@pytest.mark.parametrize("code", sorted(FIXTURES))
def test_rule_fires_at_the_spec_line(tmp_path: Path, code: str) -> None:
    spec, prod, (file, needle, after), severity = FIXTURES[code]
    project = demo(tmp_path, spec, prod)
    r, findings = check(tmp_path)
    mine = [f for f in findings if f["code"] == code]
    assert mine, f"{code} did not fire: {r.out}"
    f = mine[0]
    assert f["file"] == f"demo/{file}"
    assert f["line"] == line_of(project / file, needle, after), f
    assert f["severity"] == severity
    assert r.code == (1 if severity == "error" else 0)
    others = {g["code"] for g in findings} - {code}
    assert not others, f"the fixture of {code} also tripped {others}"


def test_rules_list(tmp_path: Path) -> None:
    r = kfconf("check", "--list-rules", cwd=tmp_path)
    assert r.code == 0
    for rule in RULES:
        assert rule.code in r.out and rule.name in r.out


def test_validation_errors_are_findings(tmp_path: Path) -> None:
    project = demo(tmp_path, lambda s: s["spec"]["training"][0].update(nodes=0))
    r, findings = check(tmp_path)
    assert r.code == 1
    f = next(f for f in findings if f["code"] == "KF104")
    assert f["line"] == line_of(project / "ml-project.yaml", "nodes: 0")
    assert f["environments"] == ["base", "prod"]  # one finding, every environment it breaks


# ------------------------------------------------------------------------------------------------ policy

def policy(tmp: Path, text: str) -> Path:
    p = tmp / "policy.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_policy_severity_and_environment_settings(tmp_path: Path) -> None:
    demo(tmp_path, prod=lambda p: p["spec"].pop("images"))
    policy(tmp_path, "kind: Policy\nrules:\n  KF510: warning\n")
    r, findings = check(tmp_path, "--policy", "policy.yaml")
    assert [(f["code"], f["severity"]) for f in findings] == [("KF510", "warning")] and r.code == 0
    policy(tmp_path, "kind: Policy\nenvironments:\n  prod:\n    rules: {image-digest: off}\n")
    r, findings = check(tmp_path, "--policy", "policy.yaml")
    assert findings == [] and r.code == 0
    policy(tmp_path, "kind: Policy\nproduction: [staging]\n")  # prod is no longer production
    r, findings = check(tmp_path, "--policy", "policy.yaml")
    assert findings == []


def test_rule_options(tmp_path: Path) -> None:
    demo(tmp_path, _tuning)
    policy(tmp_path, "rules:\n  tuning-budget: {maxTrials: 1000}\n")
    _, findings = check(tmp_path, "--policy", "policy.yaml")
    assert findings == []
    policy(tmp_path, "rules:\n  tuning-budget: {maxTrails: 1000}\n")
    r = kfconf("check", "demo", "--policy", "policy.yaml", cwd=tmp_path)
    assert r.code == 2
    assert "policy.yaml:2:19: error[KF502]" in r.err and "did you mean 'maxTrials'?" in r.err


@pytest.mark.parametrize(("text", "where", "what"), [
    ("kind: Policy\nrulez: {}\n", "policy.yaml:2:1", "did you mean 'rules'?"),
    ("rules:\n  image-digets: off\n", "policy.yaml:2:3", "did you mean 'image-digest'?"),
    ("rules:\n  KF511: sometimes\n", "policy.yaml:2:3", "expected on, off, error, warning, info"),
    ("custom:\n  - id: x\n    match: {kind: TrainJob}\n    path: spec.a\n    exists: true\n    condition: '> 1'\n",
     "policy.yaml:2:5", "exactly one of condition, exists, matches, in"),
    ("custom:\n  - id: x\n    match: {kind: TrainJob}\n    path: spec.a\n    matches: '(['\n",
     "policy.yaml:5:5", "expected a regular expression"),
    ("custom:\n  - id: x\n    match: {kind: TrainJob}\n    path: 'spec..a'\n    exists: true\n",
     "policy.yaml:4:5", "expected a field path"),
    ("exemptions:\n  - rule: KF510\n    reason: because\n", "policy.yaml:2:5",
     "name a project, a resource or an entry"),
    ("rules: [\n", "policy.yaml:", "KF502"),
])
def test_invalid_policy_exits_2_at_the_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    demo(tmp_path)
    policy(tmp_path, text)
    r = kfconf("check", "demo", "--policy", "policy.yaml", cwd=tmp_path)
    assert r.code == 2, r.out + r.err
    assert where in r.err and what in r.err and "[KF502]" in r.err
    assert "Traceback" not in r.err


def test_exemptions(tmp_path: Path) -> None:
    demo(tmp_path, prod=lambda p: p["spec"].update(serving=[{"name": "model", "replicas": {"min": 1}}]))
    policy(tmp_path, "exemptions:\n  - rule: serving-replicas\n    entry: serving/model\n    environments: [prod]\n"
                     "    reason: shadow deployment, takes no user traffic\n")
    r, findings = check(tmp_path, "--policy", "policy.yaml")
    assert findings == [] and r.code == 0
    exempted = json.loads(r.out)["exempted"]
    assert [(e["code"], e["exemption"]) for e in exempted] == [("KF516", "shadow deployment, takes no user traffic")]
    text = kfconf("check", "demo", "--policy", "policy.yaml", cwd=tmp_path)
    assert "exempted[KF516]" in text.out and "1 exempted" in text.out

    # no reason: the exemption is itself an error and exempts nothing
    policy(tmp_path, "exemptions:\n  - rule: KF516\n    entry: serving/model\n")
    r, findings = check(tmp_path, "--policy", "policy.yaml")
    assert r.code == 1
    assert {(f["code"], f.get("file"), f.get("line")) for f in findings} == {
        ("KF503", "policy.yaml", 2), ("KF516", "demo/overlays/prod.yaml", line_of(
            tmp_path / "demo/overlays/prod.yaml", "min: 1"))}

    # one that matches nothing is a warning, at its line
    policy(tmp_path, "exemptions:\n  - rule: KF516\n    entry: serving/model\n    reason: r\n"
                     "  - rule: KF511\n    resource: TrainJob/team-a/nope\n    reason: stale\n")
    r, findings = check(tmp_path, "--policy", "policy.yaml")
    assert [(f["code"], f["line"], f["severity"]) for f in findings] == [("KF504", 5, "warning")]


def test_custom_rules(tmp_path: Path) -> None:
    project = demo(tmp_path)
    policy(tmp_path, """\
custom:
  - id: prod-replicas
    match: {section: serving}
    path: replicas.min
    condition: ">= 3"
    environments: [prod]
    message: production models keep three replicas
  - id: isvc-replicas
    match: {kind: InferenceService}
    path: spec.predictor.minReplicas
    condition: ">= 3"
    environments: [base]
  - id: trusted-registry
    match: {kind: TrainJob}
    path: spec.trainer.image
    matches: 'ghcr\\.io/acme/[a-z-]+@sha256:[0-9a-f]{64}'
  - id: known-format
    match: {kind: InferenceService}
    path: spec.predictor.model.modelFormat.name
    in: [sklearn, xgboost]
  - id: project-label
    match: {kind: TrainJob}
    path: metadata.labels["kfconf.dev/project"]
    exists: true
  - id: memory-cap
    match: {kind: TrainJob}
    path: spec.trainer.resourcesPerNode.limits.memory
    condition: "<= 4Gi"
    severity: warning
""")
    r, findings = check(tmp_path, "--policy", "policy.yaml")
    got = {(f["rule"], tuple(f["environments"])): f for f in findings}
    assert set(got) == {("prod-replicas", ("prod",)), ("isvc-replicas", ("base",)),
                        ("trusted-registry", ("base",)), ("memory-cap", ("base", "prod"))}
    spec = project / "ml-project.yaml"
    replicas = line_of(spec, "min: 2")
    assert got[("prod-replicas", ("prod",))]["line"] == replicas  # the spec entry's own field
    assert got[("prod-replicas", ("prod",))]["message"].startswith("production models keep three replicas")
    assert got[("isvc-replicas", ("base",))]["line"] == replicas  # a generated field → the spec line it came from
    assert got[("isvc-replicas", ("base",))]["file"] == "demo/ml-project.yaml"
    assert got[("trusted-registry", ("base",))]["line"] == line_of(spec, "image: trainer")
    assert got[("memory-cap", ("base", "prod"))]["severity"] == "warning"
    assert all(f["code"] == "KF501" for f in findings)
    assert r.code == 1
