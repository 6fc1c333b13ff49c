"""Overlays: merge rules, environments, extends and include, and provenance through every merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfconf.core.errors import FindingsError
from kfconf.core.source import Loc
from kfconf.spec.environments import environments, resolve
from kfconf.spec.loader import parse
from kfconf.spec.merge import merge
from kfconf.spec.validate import validate

ROOT = Path(__file__).resolve().parents[2]


def merged(base: str, upper: str) -> tuple[object, object]:
    b, u = parse(base, "base.yaml"), parse(upper, "up.yaml")
    src = b.source.copy()
    data, diags = merge(b.data, src, u.data, u.source)
    assert not diags
    return data, src


def test_mappings_merge_deeply_and_scalars_replace() -> None:
    data, src = merged("a: {x: 1, y: {z: 2}}\n", "a: {y: {w: 3}}\n")
    assert data == {"a": {"x": 1, "y": {"z": 2, "w": 3}}}
    assert src.at(("a", "y", "w")).file == "up.yaml"  # type: ignore[attr-defined]
    assert src.at(("a", "x")).file == "base.yaml"  # type: ignore[attr-defined]


def test_named_lists_merge_by_name_and_append_new_entries() -> None:
    data, src = merged("l:\n- {name: a, v: 1}\n- {name: b, v: 2}\n", "l:\n- {name: b, v: 9}\n- {name: c, v: 3}\n")
    assert data == {"l": [{"name": "a", "v": 1}, {"name": "b", "v": 9}, {"name": "c", "v": 3}]}
    assert src.at(("l", 1, "v")) == Loc("up.yaml", 2, 13)  # type: ignore[attr-defined]
    assert src.at(("l", 2)).file == "up.yaml"  # type: ignore[attr-defined]


def test_star_entry_applies_to_every_named_entry() -> None:
    data, _ = merged("l:\n- {name: a}\n- {name: b}\n", "l:\n- {name: '*', gpu: 1}\n")
    assert data == {"l": [{"name": "a", "gpu": 1}, {"name": "b", "gpu": 1}]}


def test_patch_delete_and_replace() -> None:
    data, src = merged("l:\n- {name: a}\n- {name: b, x: 1}\nm: {x: 1, y: 2}\nk: {q: 1}\n",
                       "l:\n- {name: a, $patch: delete}\nm: {$patch: replace, z: 3}\nk: {$patch: delete}\n")
    assert data == {"l": [{"name": "b", "x": 1}], "m": {"z": 3}}
    assert src.at(("l", 0, "x")) == Loc("base.yaml", 3, 13)  # type: ignore[attr-defined]  # index shifted


def test_unnamed_lists_replace() -> None:
    data, _ = merged("l: [1, 2, 3]\n", "l: [4]\n")
    assert data == {"l": [4]}


def test_bad_patch_directive_is_located() -> None:
    b, u = parse("m: {x: 1}\n", "b.yaml"), parse("m: {$patch: remove}\n", "u.yaml")
    _, diags = merge(b.data, b.source.copy(), u.data, u.source)
    assert [(d.code, d.loc) for d in diags] == [("KF304", Loc("u.yaml", 1, 5))]


def test_example_environments_chain_extends_and_includes() -> None:
    churn = ROOT / "examples" / "churn"
    assert environments(churn) == ["dev", "prod", "staging"]
    r = resolve(churn, "prod")
    serving = r.data["spec"]["serving"][0]
    assert serving["replicas"] == {"min": 3, "max": 8}  # staging → prod-hardening → prod
    assert [e["name"] for e in r.data["spec"]["notebooks"]] == []
    assert r.source.at(("spec", "serving", 0, "replicas", "min")).file.endswith("overlays/prod.yaml")
    assert r.source.at(("spec", "training", 0, "procsPerNode")).file.endswith("ml-project.yaml")


def test_error_in_a_merged_value_points_at_the_overlay_line(tmp_path: Path) -> None:
    (tmp_path / "overlays").mkdir()
    (tmp_path / "ml-project.yaml").write_text((ROOT / "examples/churn/ml-project.yaml").read_text())
    (tmp_path / "overlays" / "prod.yaml").write_text(
        "apiVersion: kfconf.dev/v1alpha1\nkind: Overlay\nspec:\n  training:\n    - name: churn-model\n"
        "      nodes: 0\n")
    r = resolve(tmp_path, "prod", cwd=tmp_path)
    _, _, diags = validate(r.data, r.source, tmp_path, "ml-project.yaml", "prod")
    [d] = [d for d in diags if d.code == "KF104"]
    assert d.loc == Loc("overlays/prod.yaml", 6, 7)


@pytest.mark.parametrize(("body", "code"), [
    ("extends: nowhere\n", "KF301"),
    ("include: [gpu, nope]\n", "KF303"),
    ("spce: {}\n", "KF101"),
    ("kind: Stack\n", "KF105"),
    ("spec: [1]\n", "KF103"),
])
def test_overlay_file_errors(tmp_path: Path, body: str, code: str) -> None:
    (tmp_path / "overlays").mkdir()
    (tmp_path / "ml-project.yaml").write_text((ROOT / "examples/churn/ml-project.yaml").read_text())
    (tmp_path / "overlays" / "x.yaml").write_text("apiVersion: kfconf.dev/v1alpha1\n" + body)
    with pytest.raises(FindingsError) as e:
        resolve(tmp_path, "x", cwd=tmp_path)
    assert [d.code for d in e.value.diagnostics] == [code]
    assert e.value.diagnostics[0].loc.file == "overlays/x.yaml"  # type: ignore[union-attr]
