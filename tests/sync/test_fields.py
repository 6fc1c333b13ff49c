"""Field sets from managedFields, and comparisons restricted to what one manager owns."""

from __future__ import annotations

from kfconf.sync.fields import contains, differences, owned_fields, union

LIVE = {
    "metadata": {
        "name": "d",
        "labels": {"app": "x", "team": "a"},
        "managedFields": [
            {"manager": "kfconf", "operation": "Apply", "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    'k:{"name":"main"}': {".": {}, "f:name": {}, "f:image": {}}}}}}}},
            {"manager": "hpa", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kfconf", "operation": "Apply", "subresource": "status", "fieldsV1": {"f:status": {}}},
        ],
    },
    "spec": {"replicas": 3, "template": {"spec": {"containers": [
        {"name": "main", "image": "img:1", "terminationMessagePath": "/dev/termination-log"},
        {"name": "sidecar", "image": "istio"}]}}},
}


def test_owned_fields_of_one_manager_and_operation() -> None:
    f = owned_fields(LIVE, "kfconf")
    assert set(f) == {"f:metadata", "f:spec"}  # the status subresource entry is not the object's
    assert owned_fields(LIVE, "hpa") == {}  # an Update, not an Apply
    assert owned_fields(LIVE, "hpa", operation=None) == {"f:spec": {"f:replicas": {}}}


def test_differences_only_on_owned_fields() -> None:
    desired = {"metadata": {"labels": {"app": "x", "team": "zzz"}},
               "spec": {"replicas": 3, "template": {"spec": {"containers": [
                   {"name": "main", "image": "img:2"}, {"name": "sidecar", "image": "other"}]}}}}
    got = list(differences(desired, LIVE, owned_fields(LIVE, "kfconf")))
    # team label, the sidecar and its image are not ours: no drift there
    assert got == [".spec.template.spec.containers[name=main].image"]
    assert list(differences(LIVE, LIVE, owned_fields(LIVE, "kfconf"))) == []
    gone = {"metadata": {"labels": {}}, "spec": LIVE["spec"]}
    assert list(differences(gone, LIVE, owned_fields(LIVE, "kfconf"))) == [".metadata.labels.app"]


def test_set_items_and_union() -> None:
    a = {"metadata": {"finalizers": ["x", "y"]}}
    b = {"metadata": {"finalizers": ["x"]}}
    fields = union({"f:metadata": {"f:finalizers": {'v:"x"': {}}}}, {"f:metadata": {"f:finalizers": {'v:"y"': {}}}})
    assert list(differences(a, b, fields)) == ['.metadata.finalizers[="y"]']


def test_contains_is_a_conservative_no_change_test() -> None:
    assert contains(LIVE, {"spec": {"replicas": 3}})
    assert contains(LIVE, {"spec": {"template": {"spec": {"containers": [{"name": "main"}, {"name": "sidecar"}]}}}})
    assert not contains(LIVE, {"spec": {"template": {"spec": {"containers": [{"name": "main"}]}}}})  # length
    assert not contains(LIVE, {"spec": {"replicas": "3"}})
    assert not contains({"a": 1}, {"a": True}) and not contains({"a": True}, {"a": 1})
    assert not contains(LIVE, {"spec": {"paused": False}})
