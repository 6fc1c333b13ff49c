"""Emitted YAML means the same to YAML 1.2 readers (Go's yaml behind kubectl, kustomize, Argo CD, Flux) as to
PyYAML: a string that YAML 1.2 would read as a number is quoted. Found by the check benchmark: kubeconform read
the PipelineVersion versionName `0878622884` and a content hash `33348999671906e4` as numbers."""

from __future__ import annotations

import pytest
import yaml
from ruamel.yaml import YAML

from kfconf.build.emit import dump

NUMERIC_IN_12 = ["0878622884", "33348999671906e4", "1e5", "1E5", "0o17", "01234", "0x1F", "+1", "-2.5", ".5", "1.",
                 "1_000", "+inf", "-.inf", "123"]
PLAIN = ["v1", "1.2.3", "abc123", "-", "e5", "0.1.0-rc1", "team-growth", "1e", "0x", "a:b"]


def _yaml12(text: str) -> object:
    return YAML(typ="safe", pure=True).load(text)


@pytest.mark.parametrize("value", NUMERIC_IN_12 + PLAIN)
def test_strings_stay_strings_for_yaml_1_2_and_1_1(value: str) -> None:
    text = dump({"metadata": {"annotations": {"k": value}}, "spec": {"versionName": value, "args": [value]}})
    for loaded in (_yaml12(text), yaml.safe_load(text)):
        assert loaded == {"metadata": {"annotations": {"k": value}}, "spec": {"versionName": value, "args": [value]}}


def test_only_what_needs_quotes_is_quoted() -> None:
    assert dump({"a": "0878622884"}) == "a: '0878622884'\n"
    assert dump({"a": "v1", "b": "1.2.3"}) == "a: v1\nb: 1.2.3\n"
    assert dump({"n": 5, "f": 1.5, "t": True, "z": None}) == "f: 1.5\nn: 5\nt: true\nz: null\n"
