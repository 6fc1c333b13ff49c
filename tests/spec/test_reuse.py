"""Validation reuses what it found in the parts environments share: never a different answer.

`kfconf validate` resolves each environment from its parent's result and validates every environment
with one `Reuse`. These tests compare that with the plain way — every environment resolved from scratch
and validated on its own — on the examples, on generated projects and on projects whose overlays hold
mistakes, and check the rules that keep reuse right: checks read the project only through Project's
accessors, a part a check read changing means the check runs again.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from bench.generator import generate
from kfconf.cli.validate import validate_project
from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.paths import shown
from kfconf.spec.environments import SPEC_FILE, environments, resolve
from kfconf.spec.loader import load
from kfconf.spec.project import NAMES
from kfconf.spec.reuse import Reuse
from kfconf.spec.validate import validate

ROOT = Path(__file__).resolve().parents[2]
CWD = Path.cwd()
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob(f"*/{SPEC_FILE}"))


def plainly(project_dir: Path) -> list[Diagnostic]:
    """Every environment resolved from scratch and validated alone (no reuse, no parent cache)."""
    shown_as = shown(project_dir / SPEC_FILE, CWD, real=True)
    out: dict[tuple[object, ...], Diagnostic] = {}
    for env in [None, *environments(project_dir)]:
        try:
            r = resolve(project_dir, env, CWD, spec=load(project_dir / SPEC_FILE, shown_as))
            _, _, diags = validate(r.data, r.source, project_dir, shown_as, env, loaded=r.diagnostics)
        except FindingsError as e:
            diags = e.diagnostics
        for d in diags:
            out.setdefault((d.code, d.loc, d.path, d.message), d)
    return sorted(out.values(), key=Diagnostic.sort_key)


def rendered(diags: list[Diagnostic]) -> list[str]:
    return [d.render() for d in diags]


def with_overlay(tmp_path: Path, example: str, env: str, old: str, new: str) -> Path:
    d = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, d, ignore=shutil.ignore_patterns(".kfconf"))
    f = d / "overlays" / f"{env}.yaml"
    text = f.read_text()
    assert old in text, old
    f.write_text(text.replace(old, new, 1))
    return d


@pytest.mark.parametrize("project", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_the_same_with_reuse(project: Path) -> None:
    assert rendered(validate_project(project, None, CWD)) == rendered(plainly(project))


def test_generated_monorepo_validates_the_same_with_reuse(tmp_path: Path) -> None:
    projects = generate(tmp_path, 40, seed=7)
    for p in projects:
        assert rendered(validate_project(p, None, CWD)) == rendered(plainly(p)), p


# Mistakes made in overlays: each changes one part of one environment, so reuse must notice exactly that.
OVERLAY_MISTAKES = {
    "replicas-min-over-max": ("prod", "replicas: {min: 3, max: 8}", "replicas: {min: 9, max: 8}"),
    "unknown-image-name": ("prod", "  training:\n    - name: churn-model\n",
                           "  training:\n    - name: churn-model\n      image: trainr\n"),
    "pasted-credential": ("prod", "      timeoutSeconds: 21600\n",
                          "      timeoutSeconds: 21600\n      args: [--token, ghp_abcdefghijklmnopqrstuvwxyz0123]\n"),
    "escaped-credential": ("prod", "      timeoutSeconds: 21600\n",
                           '      timeoutSeconds: 21600\n      args: ["\\x41KIAABCDEFGHIJKLMNOP"]\n'),
    "delete-referenced-entry": ("prod", "  notebooks:\n", "  registry:\n    - {name: churn, $patch: delete}\n"
                                "  notebooks:\n"),
    "extends-cycle": ("staging", "kind: Overlay\n", "kind: Overlay\nextends: prod\n"),
    # a part the base does not have: the parts of the document are an input too
    "credential-in-a-new-part": ("prod", "spec:\n", "spec:\n  source: {path: 'https://alice:s3cret@git.example.com/x'}\n"),
}


@pytest.mark.parametrize("case", sorted(OVERLAY_MISTAKES))
def test_mistakes_in_overlays_are_found_the_same_with_reuse(case: str, tmp_path: Path) -> None:
    env, old, new = OVERLAY_MISTAKES[case]
    d = with_overlay(tmp_path, "churn", env, old, new)
    found = validate_project(d, None, CWD)
    assert any(x.severity.value == "error" for x in found), rendered(found)  # the mistake is found ...
    assert rendered(found) == rendered(plainly(d))  # ... and exactly as without reuse


def test_a_child_environment_resolves_the_same_from_its_parents_result() -> None:
    project = ROOT / "examples" / "churn"
    doc = load(project / SPEC_FILE)
    done: dict[str, object] = {}
    cached = resolve(project, "prod", None, spec=doc, overlays={}, resolved=done)  # type: ignore[arg-type]
    fresh = resolve(project, "prod", None, spec=doc)
    assert "staging" in done  # prod extends staging: staging was resolved on the way, and kept
    assert cached.data == fresh.data
    assert cached.source.by_path == fresh.source.by_path
    assert sorted(map(str, cached.files)) == sorted(map(str, fresh.files))
    # the parts prod leaves alone are staging's very objects: what lets validation reuse its findings
    staging = done["staging"]
    assert cached.data["spec"]["data"] is staging.data["spec"]["data"]  # type: ignore[attr-defined]


def test_a_changed_part_runs_the_check_again_and_an_unchanged_one_does_not() -> None:
    doc = load(ROOT / "examples" / "churn" / SPEC_FILE)
    reuse, calls = Reuse(), []
    project, stack, _ = validate(doc.data, doc.source, ROOT / "examples" / "churn", "ml-project.yaml")
    assert project is not None

    def check() -> list[Diagnostic]:
        calls.append(1)
        project.entries("serving")  # reads spec.serving
        return []

    reuse.run("probe", project, stack, check)
    reuse.run("probe", project, stack, check)
    assert len(calls) == 1
    changed = {**doc.data, "spec": {**doc.data["spec"], "serving": [dict(e) for e in doc.data["spec"]["serving"]]}}
    other, _, _ = validate(changed, doc.source, ROOT / "examples" / "churn", "ml-project.yaml")
    assert other is not None
    reuse.run("probe", other, stack, check)
    assert len(calls) == 2  # an equal but different serving list is a changed part: checked again
    untouched = {**doc.data, "spec": {**doc.data["spec"], "images": {**doc.data["spec"]["images"], "x": "y:1"}}}
    third, _, _ = validate(untouched, doc.source, ROOT / "examples" / "churn", "ml-project.yaml")
    assert third is not None
    reuse.run("probe", third, stack, check)
    assert len(calls) == 2  # images changed, but the check never read them


def test_checks_read_the_project_only_through_its_accessors() -> None:
    """What makes reuse right: a check that reached into project.model or project.raw would read parts
    Project cannot record, and another environment could be handed findings about a different spec."""
    offenders = []
    for f in sorted((ROOT / "kfconf").rglob("checks.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("model", "raw") \
                    and isinstance(node.value, ast.Name) and node.value.id == "project":
                offenders.append(f"{f.relative_to(ROOT)}:{node.lineno}: project.{node.attr}")
    assert not offenders, offenders


def test_fields_of_another_entry_count_as_read_one_by_one() -> None:
    doc = load(ROOT / "examples" / "churn" / SPEC_FILE)
    project, _, _ = validate(doc.data, doc.source, ROOT / "examples" / "churn", "ml-project.yaml")
    assert project is not None
    project.reads = set()
    trial = project.entry_fields("training/churn-model", "args", "command")
    assert trial is not None and trial.args is not None
    with pytest.raises(AttributeError):
        _ = trial.image  # only what was asked for: a check cannot read more than it says it reads
    i = project.entry_names("training").index("churn-model")
    assert project.reads == {(NAMES, "training"), ("spec", "training", i, "args"),
                             ("spec", "training", i, "command")}
    assert project.entry_fields("training/nope", "args") is None


def test_top_level_keys_named_like_derived_parts_are_only_keys(tmp_path: Path) -> None:
    d = tmp_path / "churn"
    shutil.copytree(ROOT / "examples" / "churn", d, ignore=shutil.ignore_patterns(".kfconf"))
    spec = d / SPEC_FILE
    spec.write_text(spec.read_text() + "names: {x: 'https://alice:s3cret@git.example.com/x'}\nparts: [1]\n")
    found = {(x.code, x.path[:1]) for x in validate_project(d, None, CWD)}
    assert {("KF101", ("names",)), ("KF101", ("parts",))} <= found  # reported as unknown keys, nothing worse
    assert rendered(validate_project(d, None, CWD)) == rendered(plainly(d))
