"""`kfconf build --explain`: the emitted YAML, unchanged, with the source of each explained field."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kfconf.build import build_project
from kfconf.build.emit import dump_stream
from kfconf.build.explain import explain_resource, explain_text, resolve, unmatched_keys
from kfconf.core.resource import Resource

ROOT = Path(__file__).resolve().parents[2]


def _build(env: str = "prod") -> object:
    return build_project(ROOT / "examples" / "llm-finetune", env, "kubeflow-latest", cwd=ROOT)


def test_explain_is_the_build_output_plus_comments() -> None:
    result = _build()
    text = explain_text(result)
    shown = [line for line in text.splitlines() if not line.startswith("# ")]
    emitted = dump_stream(result.resources).splitlines()  # type: ignore[attr-defined]
    assert len(shown) == len(emitted)
    for s, e in zip(shown, emitted, strict=True):
        assert s == e or (s.startswith(e + "  # ") and "\n" not in s), (s, e)
    assert list(yaml.safe_load_all(text)) == [r.body for r in result.resources]  # type: ignore[attr-defined]
    assert explain_text(_build()) == text  # deterministic


def test_spec_overlay_stack_and_kfconf_sources_are_shown() -> None:
    text = explain_text(_build())
    notes = {m.group(1) for m in re.finditer(r"  # ([^\n]*)$", text, re.M)}
    assert any(re.fullmatch(r"ml-project\.yaml:\d+", n) for n in notes)
    assert any(re.fullmatch(r"overlays/prod\.yaml:\d+", n) for n in notes), "an overlay's value names the overlay"
    assert any(n.startswith("stack kubeflow-latest: ") for n in notes)
    assert re.search(r"app\.kubernetes\.io/managed-by: kfconf  # kfconf$", text, re.M)


def test_every_explained_field_names_a_field_of_its_resource() -> None:
    slips = {r.id: unmatched_keys(r) for r in _build().resources}  # type: ignore[attr-defined]
    assert {k: v for k, v in slips.items() if v} == {}


def test_key_spellings() -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"kueue.x-k8s.io/queue": "q"}},
            "data": {"run.py": "print(1)\n"},
            "env": [{"name": "LR", "value": "0.1"}, {"name": "CFG", "value": '{"a": 1}'}]}
    r = Resource(body=body, explain={"metadata.labels.kueue.x-k8s.io/queue": "overlays/prod.yaml:3",
                                     "data.run.py": "ml-project.yaml:9", "env[0].value": "ml-project.yaml:20",
                                     "env.CFG.a": "ml-project.yaml:21", "spec.nothing": "x"})
    out = explain_resource(r)
    assert "  kueue.x-k8s.io/queue: q  # overlays/prod.yaml:3" in out
    assert "  run.py: |  # ml-project.yaml:9" in out
    assert "  value: '0.1'  # ml-project.yaml:20" in out
    assert "value: '{\"a\": 1}'  # ml-project.yaml:21" in out
    assert resolve(body, "env[LR]") == [("env", 0)]
    assert resolve(body, "env.*.name") == [("env", 0, "name"), ("env", 1, "name")]
    assert unmatched_keys(r) == ["spec.nothing"]
    assert yaml.safe_load(out) == body
