"""The benchmark project generator: deterministic, varied, and every project it writes is valid."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.generator import ENVS, generate, shapes
from kfconf.cli.validate import validate_project
from kfconf.components import REGISTRY


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_prefix_stable(tmp_path: Path) -> None:
    generate(tmp_path / "a", 12, seed=5)
    generate(tmp_path / "b", 12, seed=5)
    generate(tmp_path / "c", 12, seed=6)
    generate(tmp_path / "d", 4, seed=5)
    a, b, c, d = (_tree(tmp_path / x) for x in "abcd")
    assert a == b
    assert a != c
    assert d.items() <= a.items()  # the first k projects do not depend on n


def test_varied_shapes_every_section_three_envs(tmp_path: Path) -> None:
    projects = generate(tmp_path, 30, seed=1)
    assert len(projects) == len(set(projects)) == 30
    assert len(shapes(30, 1)) >= 4
    sections: set[str] = set()
    sizes = set()
    for p in projects:
        assert sorted(f.stem for f in (p / "overlays").glob("*.yaml")) == sorted(ENVS)
        doc = yaml.safe_load((p / "ml-project.yaml").read_text())
        sections |= set(doc["spec"])
        sizes.add(len((p / "ml-project.yaml").read_text().splitlines()))
        prod = yaml.safe_load((p / "overlays" / "prod.yaml").read_text())
        assert prod["extends"] == "staging"
    assert {c.key for c in REGISTRY} <= sections
    assert max(sizes) > 3 * min(sizes)


def test_generated_projects_validate_in_every_env(tmp_path: Path) -> None:
    for p in generate(tmp_path, 20, seed=3):
        errors = [d.render() for d in validate_project(p, None, tmp_path) if d.severity.value == "error"]
        assert errors == [], p
