"""The loader: values with their positions, and every malformed input as a located diagnostic."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfconf.core.errors import FindingsError
from kfconf.core.source import Loc
from kfconf.spec.loader import MAX_DEPTH, parse


def codes(text: str) -> list[str]:
    with pytest.raises(FindingsError) as e:
        parse(text, "f.yaml")
    return [d.code for d in e.value.diagnostics]


def test_positions_of_keys_and_items() -> None:
    doc = parse("a:\n  b: 1\n  c:\n    - x\n    - {d: 2}\n", "f.yaml")
    assert doc.data == {"a": {"b": 1, "c": ["x", {"d": 2}]}}
    assert doc.source.at(("a", "b")) == Loc("f.yaml", 2, 3)
    assert doc.source.at(("a", "c", 1)) == Loc("f.yaml", 5, 7)
    assert doc.source.at(("a", "c", 1, "d")) == Loc("f.yaml", 5, 8)


def test_missing_path_falls_back_to_nearest_ancestor() -> None:
    doc = parse("a:\n  b: {c: 1}\n", "f.yaml")
    assert doc.source.at(("a", "b", "zz")) == Loc("f.yaml", 2, 3)


def test_scalars_resolve_like_yaml_1_1() -> None:
    doc = parse("i: 0x1f\nf: 1.5\nb: yes\nn: ~\ns: '1'\nt: 2024-01-01\n", "f.yaml")
    assert doc.data == {"i": 31, "f": 1.5, "b": True, "n": None, "s": "1", "t": "2024-01-01"}


def test_merge_keys_apply_with_explicit_keys_winning() -> None:
    doc = parse("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert doc.data["d"] == {"x": 1, "y": 3}


def test_duplicate_key_is_reported_and_load_continues() -> None:
    doc = parse("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert doc.data == {"a": 1, "b": 2}
    [d] = doc.diagnostics
    assert (d.code, d.loc) == ("KF002", Loc("f.yaml", 3, 1))
    assert "first at line 1" in d.message


def test_non_finite_numbers_load_and_the_schema_refuses_them() -> None:
    import math
    from pathlib import Path

    from kfconf.spec.validate import validate

    doc = parse("a: .nan\nb: -.inf\n", "f.yaml")
    assert math.isnan(doc.data["a"]) and doc.data["b"] == -math.inf and not doc.diagnostics
    spec = ("apiVersion: kfconf.dev/v1alpha1\nkind: MLProject\nmetadata: {name: x}\nspec:\n"
            "  profile: {namespace: ns}\n  tuning:\n  - name: t\n    trial: training/x\n"
            "    objective: {metric: m, goal: minimize, target: .nan}\n    algorithm: {name: random}\n"
            "    parameters: {p: {type: double, min: 0, max: .inf}}\n")
    doc = parse(spec, "f.yaml")
    _, _, diags = validate(doc.data, doc.source, Path("."), "f.yaml")
    assert [(d.code, d.loc.line) for d in diags if d.code == "KF007"] == [("KF007", 9), ("KF007", 11)]


def test_syntax_error_has_position() -> None:
    with pytest.raises(FindingsError) as e:
        parse("a: [1, 2\nb: 3\n", "f.yaml")
    [d] = e.value.diagnostics
    assert d.code == "KF001" and d.loc is not None and d.loc.line >= 2


def test_tabs_get_a_hint() -> None:
    with pytest.raises(FindingsError) as e:
        parse("a:\n\tb: 1\n", "f.yaml")
    assert e.value.diagnostics[0].hint and "tabs" in e.value.diagnostics[0].hint


def test_several_documents_are_refused() -> None:
    assert codes("a: 1\n---\nb: 2\n") == ["KF001"]


def test_nesting_limit() -> None:
    deep = "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(MAX_DEPTH + 2)) + "  " * (MAX_DEPTH + 3) + "v\n"
    assert codes(deep) == ["KF003"]


def test_complex_keys_are_refused() -> None:
    doc = parse("? [a, b]\n: 1\n", "f.yaml")
    assert [d.code for d in doc.diagnostics] == ["KF006"]


def test_empty_document_is_an_empty_mapping() -> None:
    assert parse("", "f.yaml").data == {}


def test_merge_keys_keep_the_positions_of_explicit_keys_and_take_the_sources_for_the_rest() -> None:
    doc = parse("a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  <<: [*a, *b]\n  x: 0\n", "f.yaml")
    assert doc.data["c"] == {"x": 0, "y": 2, "z": 4}  # explicit first, then the earlier source
    assert doc.source.at(("c", "x")) == Loc("f.yaml", 5, 3)
    assert doc.source.at(("c", "y")) == Loc("f.yaml", 1, 14)
    assert doc.source.at(("c", "z")) == Loc("f.yaml", 2, 14)


def test_aliases_copy_values_and_their_positions() -> None:
    doc = parse("x: &o {in: [1, 2], z: 1}\ny: *o\nk: &k name\n*k : 3\n", "f.yaml")
    assert doc.data["y"] == {"in": [1, 2], "z": 1} and doc.data["y"] is not doc.data["x"]
    assert doc.source.at(("y", "in", 1)) == Loc("f.yaml", 1, 16)
    assert doc.data["name"] == 3 and doc.source.at(("name",)) == Loc("f.yaml", 4, 1)


@pytest.mark.parametrize("text, words", [
    ("a: *nope\n", "undefined alias 'nope'"),
    ("a: &x [1, *x]\n", "alias inside its own anchor 'x'"),
    ("a: &x 1\nb: &x 2\n", "got 'x' again (first at line 1)"),
    ("a: 1\nb:\n  <<: [1]\n", None),
])
def test_alias_and_merge_mistakes_are_located(text: str, words: str | None) -> None:
    if words is None:  # not a mapping after '<<': reported, the load goes on
        doc = parse(text, "f.yaml")
        [d] = doc.diagnostics
        assert (d.code, d.loc) == ("KF006", Loc("f.yaml", 3, 7))
        return
    with pytest.raises(FindingsError) as e:
        parse(text, "f.yaml")
    [d] = e.value.diagnostics
    assert words in d.message and d.loc is not None and d.loc.line >= 1


def test_the_credential_scan_of_a_text_misses_nothing_the_value_scan_would_find() -> None:
    from kfconf.spec.secrets import SECRET_INSIDE, could_hold_credentials

    clean = "a: 1\nb: [x, y]\nimage: ghcr.io/acme/x:1\nuri: s3://bucket/key\n"
    assert not could_hold_credentials(clean)
    hidden = {  # what parsing turns into a credential: escapes and folded lines
        "escaped": 'a: "\\x41KIAABCDEFGHIJKLMNOP"\n',
        "folded-key-header": "k: >\n  -----BEGIN RSA\n  PRIVATE KEY-----\n",
        "uri-password": "u: https://alice:s3cret@git.example.com/x\n",
        "token": "t: --token=ghp_abcdefghijklmnopqrstuvwxyz0123\n",
    }
    for name, text in hidden.items():
        values = [v for v in parse(text, "f.yaml").data.values()]
        assert any(SECRET_INSIDE.search(v) for v in values), name  # the value is a credential ...
        assert could_hold_credentials(text), name  # ... so the text scan must say so


def test_documents_of_a_stream_are_what_pyyaml_reads_with_where_each_starts() -> None:
    import yaml

    from kfconf.build.emit import dump_stream
    from kfconf.build.pipeline import build_project
    from kfconf.spec.loader import documents

    root = Path(__file__).resolve().parents[2]
    text = dump_stream(build_project(root / "examples" / "churn", "prod").resources)
    docs = documents(text, "out.yaml")
    assert [v for _, v in docs] == list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line == "---"]
    assert [loc.line for loc, _ in docs] == [n + 1 for n in starts]  # each document starts after its ---
    assert documents("a: 1\n---\n---\nb: 2\n", "s.yaml") == [
        (Loc("s.yaml", 1, 1), {"a": 1}), (Loc("s.yaml", 3, 1), None), (Loc("s.yaml", 4, 1), {"b": 2})]
    with pytest.raises(FindingsError) as e:
        documents("a: 1\n---\nb: \x01\n", "s.yaml")
    assert e.value.diagnostics[0].code == "KF001" and e.value.diagnostics[0].loc.line == 3  # type: ignore[union-attr]
