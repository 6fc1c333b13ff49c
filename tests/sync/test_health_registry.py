"""The health registry: every component slice's HEALTH map plus the core rules, judged on fixtures.

Fixtures (tests/sync/fixtures/health/*.yaml) are live objects with the verdict a person expects; every
rule in the registry must have at least one fixture, so a new kind cannot arrive untested.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfconf.sync.health import HealthRegistry, _overlap, build_registry, generic
from kfconf.sync.health_types import HealthStatus

FIXTURES = Path(__file__).parent / "fixtures" / "health"


def cases() -> list[dict[str, Any]]:
    out = []
    for f in sorted(FIXTURES.glob("*.yaml")):
        for case in yaml.safe_load(f.read_text()):
            out.append(dict(case, file=f.name))
    return out


CASES = cases()
REGISTRY = build_registry()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_verdict(case: dict[str, Any]) -> None:
    got = REGISTRY.status(case["object"])
    assert got.state == case["expect"]["state"], got
    if "message" in case["expect"]:
        assert got.message == case["expect"]["message"]


def test_every_component_health_module_loads() -> None:
    assert REGISTRY.missing == []
    owners = set(REGISTRY.owners.values())
    assert {"training", "tuning", "serving", "profile", "notebooks", "data", "pipelines"} <= owners


def test_every_rule_has_a_fixture() -> None:
    covered = set()
    for c in CASES:
        obj = c["object"]
        group = obj["apiVersion"].rpartition("/")[0]
        for key in REGISTRY.rules:
            if _overlap(key, f"{group}/{obj['kind']}") and (key.partition("/")[0] == group or "/" not in key):
                covered.add(key)
    assert sorted(set(REGISTRY.rules) - covered) == []


@dataclass
class FakeComponent:
    key: str
    health: str | None
    table: dict[str, Any]
    fails: str | None = None
    """Module name whose import fails when loading the health map."""

    def load(self, attr: str) -> Any:
        if self.fails:
            raise ModuleNotFoundError(f"No module named {self.fails!r}", name=self.fails)
        return self.table


def ok(obj: Any) -> HealthStatus:
    return HealthStatus("Healthy", "fake")


def test_two_components_claiming_one_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="already judges"):
        build_registry([FakeComponent("a", "m:H", {"Widget": ok}), FakeComponent("b", "m:H", {"x.io/Widget": ok})])
    with pytest.raises(ValueError, match="core already judges"):
        build_registry([FakeComponent("a", "m:H", {"Job": ok})])
    reg = build_registry([FakeComponent("a", "m:H", {"x.io/Widget": ok}),
                          FakeComponent("b", "m:H", {"y.io/Widget": ok})])
    assert reg.status({"apiVersion": "y.io/v1", "kind": "Widget", "metadata": {}}).message == "fake"


def test_a_missing_health_module_is_recorded_but_a_broken_one_raises() -> None:
    target = "kfconf.components.fake.health"
    reg = build_registry([FakeComponent("fake", f"{target}:HEALTH", {}, fails=target)])
    assert reg.missing == ["fake"]
    with pytest.raises(ModuleNotFoundError, match="torch"):
        build_registry([FakeComponent("fake", f"{target}:HEALTH", {}, fails="torch")])


def test_a_rule_that_crashes_reports_unknown_instead_of_stopping_the_syncer() -> None:
    def boom(obj: Any) -> HealthStatus:
        raise KeyError("status")

    reg = HealthRegistry()
    reg.add("x", {"Widget": boom})
    got = reg.status({"apiVersion": "x.io/v1", "kind": "Widget", "metadata": {}})
    assert got.state == "Unknown" and "KeyError" in got.message
    assert reg.status(None).state == "Unknown"
    assert generic({"metadata": {"deletionTimestamp": "now"}}).state == "Progressing"
