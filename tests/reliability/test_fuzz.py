"""Fuzzing in the suite: a few thousand cases; `tools/fuzz.py` runs the long campaign."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kfconf.core.errors import CODES, FindingsError
from kfconf.spec.loader import parse
from kfconf.spec.validate import validate
from kfconf.testing.fuzz import run_cases

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/ml-project.yaml"))

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)


def assert_located(e: FindingsError) -> None:
    for d in e.diagnostics:
        assert d.code in CODES and d.loc is not None and d.loc.line >= 1 and d.loc.col >= 1, d.render()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes_the_loader_or_validation(text: str) -> None:
    try:
        doc = parse(text, "f.yaml")
        validate(doc.data, doc.source, Path("."), "f.yaml")
    except FindingsError as e:
        assert_located(e)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_arbitrary_documents_under_spec_never_crash_validation(value: object) -> None:
    import yaml

    text = yaml.safe_dump({"apiVersion": "kfconf.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "x"},
                           "spec": {"profile": {"namespace": "ns"}, "training": [value]}})
    doc = parse(text, "f.yaml")
    _, _, diags = validate(doc.data, doc.source, Path("."), "f.yaml")
    for d in diags:
        assert d.code in CODES and d.loc is not None


def test_mutated_examples_through_the_whole_pipeline() -> None:
    counts = run_cases(EXAMPLES, n=600, seed=1)
    assert counts["findings"] > 0 and sum(counts.values()) == 600
