"""Inventory entries, their compact encoding, and which objects are stale (in delete order)."""

from __future__ import annotations

import pytest

from kfconf.sync import inventory as inv
from kfconf.sync.objects import ObjRef, ref_of


def test_entry_round_trip_and_identity() -> None:
    r = ref_of({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                "metadata": {"name": "churn-model", "namespace": "team-growth"}})
    assert r.entry == "trainer.kubeflow.org_TrainJob_team-growth_churn-model_v1alpha1"
    assert ObjRef.parse(r.entry) == r
    assert str(r) == "TrainJob/team-growth/churn-model"
    core = ref_of({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert core.entry == "_Namespace__team_v1" and ObjRef.parse(core.entry) == core and core.api_version == "v1"
    with pytest.raises(ValueError):
        ObjRef.parse("ConfigMap_ns_name")


def test_stale_ignores_versions_and_deletes_workloads_before_namespaces() -> None:
    old = inv.Inventory.of([
        (ObjRef("", "Namespace", "", "team", "v1"), "h1"),
        (ObjRef("", "ConfigMap", "team", "cfg", "v1"), "h2"),
        (ObjRef("trainer.kubeflow.org", "TrainJob", "team", "t", "v1alpha1"), "h3"),
        (ObjRef("serving.kserve.io", "InferenceService", "team", "s", "v1beta1"), "h4"),
        (ObjRef("serving.kserve.io", "ServingRuntime", "team", "rt", "v1alpha1"), "h5"),
    ])
    new = inv.Inventory.of([(ObjRef("serving.kserve.io", "InferenceService", "team", "s", "v1"), "h9")])
    stale = inv.stale(old, new)
    assert [r.kind for r in stale] == ["TrainJob", "ServingRuntime", "ConfigMap", "Namespace"]
    merged = old.union(new)
    assert len(merged) == 5 and "serving.kserve.io_InferenceService_team_s_v1" in merged.entries


def test_encoding_is_compact_and_deterministic() -> None:
    refs = [(ObjRef("", "ConfigMap", "team-growth", f"config-{i:04d}", "v1"), f"{i:016x}") for i in range(1000)]
    a = inv.to_configmap("kfconf-inventory.p.prod", "team-growth", "p", "prod", inv.Inventory.of(refs), None, {})
    b = inv.to_configmap("kfconf-inventory.p.prod", "team-growth", "p", "prod",
                         inv.Inventory.of(reversed(refs)), None, {})
    assert a == b
    size = len(a["binaryData"][inv.INVENTORY_KEY])
    assert size < 30_000, size  # 1,000 objects in well under the 1 MiB object limit
    back, status = inv.from_configmap(a)
    assert back.refs() == sorted(r for r, _ in refs) and status is None
    assert inv.inventory_name("churn", None) == "kfconf-inventory.churn.base"
