"""Checked-in generated files are current: the shipped CRD schema set and schemas/ml-project.schema.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from jsonschema import Draft7Validator

from kfconf.spec.jsonschema import schema_text

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"
SHIPPED = ROOT / "kfconf" / "data" / "schemas"


def test_shipped_crd_schemas_are_what_tools_gen_schemas_makes() -> None:
    assert REFERENCE.is_dir(), f"the reference set is needed beside the repository: {REFERENCE}"
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_schemas
    finally:
        sys.path.remove(str(ROOT / "tools"))
    fresh = gen_schemas.generate(REFERENCE)
    have = {str(p.relative_to(SHIPPED)): p.read_text(encoding="utf-8") for p in SHIPPED.rglob("*.json")}
    assert sorted(have) == sorted(fresh), "run python tools/gen_schemas.py"
    stale = [k for k in fresh if have[k] != fresh[k]]
    assert not stale, f"stale shipped schemas (run python tools/gen_schemas.py): {stale}"


def test_shipped_schemas_are_compact() -> None:
    """No descriptions ship (the wheel stays small): the whole set stays under 1.5 MB."""
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*.json"))
    assert total < 1_500_000, total
    assert not any('"description":"' in p.read_text() for p in SHIPPED.rglob("*.json"))  # the keyword, not a field


def test_ml_project_schema_is_current() -> None:
    checked_in = (ROOT / "schemas" / "ml-project.schema.json").read_text(encoding="utf-8")
    assert checked_in == schema_text(), "schemas/ml-project.schema.json is stale: run kfconf schema > it"


def test_ml_project_schema_accepts_the_examples_and_rejects_a_misspelled_key() -> None:
    schema = json.loads((ROOT / "schemas" / "ml-project.schema.json").read_text())
    Draft7Validator.check_schema(schema)
    v = Draft7Validator(schema)
    specs = sorted((ROOT / "examples").glob("*/ml-project.yaml"))
    assert len(specs) >= 2
    for spec in specs:
        doc = yaml.safe_load(spec.read_text())
        assert [e.message for e in v.iter_errors(doc)] == [], spec
        bad = json.loads(json.dumps(doc))
        bad["spec"]["trainig"] = bad["spec"].pop("training")
        assert any("trainig" in e.message for e in v.iter_errors(bad)), spec
