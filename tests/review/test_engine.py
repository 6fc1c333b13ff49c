"""The diff engine and the impact summary on hand-written resources: noise, named lists, quantities,
immutable fields, masking, content-named versions, and demand per Kubeflow kind."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from kfconf.core.resource import Resource
from kfconf.core.source import Loc
from kfconf.review.diff import diff_bodies, diff_resources
from kfconf.review.diffreport import render_json, render_markdown, render_text
from kfconf.review.impact import Demand, canary_traffic, demand, impact


def res(body: dict[str, Any]) -> Resource:
    return Resource(body=body, origin=Loc("p/ml-project.yaml", 3, 5), component="x", entry="e")


def trainjob(nodes: int = 2, gpu: int = 1, image: str = "img:1", name: str = "t") -> dict[str, Any]:
    per_node = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": gpu}
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": {"name": name, "namespace": "ns",
                         "annotations": {"kfconf.dev/content-hash": "abc", "kfconf.dev/source": "ml-project.yaml:9"}},
            "spec": {"runtimeRef": {"name": "torch-distributed"},
                     "trainer": {"image": image, "numNodes": nodes,
                                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                 "resourcesPerNode": {"requests": dict(per_node), "limits": dict(per_node)}}}}


def isvc(canary: int | None = 10, min_replicas: int = 2, cpu: str = "1") -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "m", "namespace": "ns", "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
        "spec": {"predictor": {"minReplicas": min_replicas, "maxReplicas": 4,
                               "model": {"modelFormat": {"name": "sklearn"},
                                         "resources": {"requests": {"cpu": cpu, "memory": "2Gi"}}}}}}
    if canary is not None:
        body["spec"]["canary"] = [{"trafficPercent": canary, "predictor": {
            "name": "v2", "minReplicas": 1, "model": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}}}]
    return body


def test_noise_is_not_a_change() -> None:
    a = trainjob()
    b = copy.deepcopy(a)
    b["metadata"]["annotations"] = {"kfconf.dev/content-hash": "zzz", "kfconf.dev/source": "ml-project.yaml:44"}
    b["spec"] = dict(reversed(list(b["spec"].items())))  # key order
    b["spec"]["runtimeRef"]["kind"] = "ClusterTrainingRuntime"  # the API's own default, now explicit
    b["spec"]["trainer"]["resourcesPerNode"]["requests"]["cpu"] = "4000m"  # the same quantity
    b["spec"]["trainer"]["command"] = []  # an empty list is no list
    b["metadata"]["labels"] = {}
    assert diff_bodies(a, b) == []


def test_a_real_change_shows_its_path_and_values() -> None:
    a, b = trainjob(), trainjob(image="img:2")
    b["spec"]["trainer"]["env"].insert(0, {"name": "C", "value": "3"})  # named list: one addition, no shift
    b["spec"]["suspend"] = True  # true is not the default false
    changes = {(f.path, f.op, json.dumps(f.before), json.dumps(f.after)) for f in diff_bodies(a, b)}
    assert changes == {
        ("spec.trainer.image", "change", '"img:1"', '"img:2"'),
        ("spec.trainer.env[name=C]", "add", "null", '{"name": "C", "value": "3"}'),
        ("spec.suspend", "change", "false", "true"),
    }


def test_types_matter() -> None:
    a, b = trainjob(), trainjob()
    b["spec"]["trainer"]["numNodes"] = True  # YAML `true` is not 1 to the API server
    assert [f.path for f in diff_bodies(a, b)] == ["spec.trainer.numNodes"]


def test_immutable_fields_force_a_replace() -> None:
    changes = diff_resources([res(trainjob(nodes=2))], [res(trainjob(nodes=4))])
    assert changes[0].replace and "immutable" in str(changes[0].fields[0].immutable)
    exp = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": "e", "namespace": "ns"},
           "spec": {"parallelTrialCount": 2, "maxTrialCount": 10, "objective": {"type": "maximize"}}}
    more = copy.deepcopy(exp)
    more["spec"]["parallelTrialCount"] = 4
    more["spec"]["maxTrialCount"] = 20
    assert not diff_resources([res(exp)], [res(more)])[0].replace  # Katib's three counts may change in place
    other = copy.deepcopy(exp)
    other["spec"]["objective"]["type"] = "minimize"
    assert diff_resources([res(exp)], [res(other)])[0].replace
    mode = isvc()
    mode["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Knative"
    c = diff_resources([res(isvc())], [res(mode)])[0]
    assert c.replace and c.fields[0].path == 'metadata.annotations["serving.kserve.io/deploymentMode"]'
    assert not diff_resources([res(isvc(min_replicas=2))], [res(isvc(min_replicas=3))])[0].replace


def test_secret_values_never_appear() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
              "data": {"token": "c2VjcmV0LW9uZQ=="}, "stringData": {"password": "hunter2"}}
    changed = copy.deepcopy(secret)
    changed["data"]["token"] = "c2VjcmV0LXR3bw=="
    changed["stringData"]["key"] = "sk-abcdefabcdefabcdefabcdef"
    added = dict(copy.deepcopy(secret), metadata={"name": "s2", "namespace": "ns"})
    changes = diff_resources([res(secret)], [res(changed), res(added)])
    assert {c.op for c in changes} == {"add", "change"}
    from kfconf.gitops.gitsource import Revision
    from kfconf.review.compare import DiffReport, Section

    section = Section("p", "p", None, changes, impact([res(secret)], [res(changed), res(added)], changes))
    report = DiffReport(Revision("a", "0" * 40), Revision("b", "1" * 40), [section], 1, ["p"])
    for text in (render_text(report), render_markdown(report)[0], render_json(report)):
        for value in ("c2VjcmV0", "hunter2", "sk-abcdef"):
            assert value not in text
        assert "(masked)" in text
    assert any(f.path == "data.token" for c in changes for f in c.fields)  # the change itself is still reported


def test_a_new_content_named_version_is_one_change() -> None:
    def pv(name: str, image: str) -> dict[str, Any]:
        return {"apiVersion": "pipelines.kubeflow.org/v2beta1", "kind": "PipelineVersion",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"pipelineName": "nightly", "pipelineSpec": {"deploymentSpec": {"executors": {"x": {
                    "container": {"image": image, "args": ['{"kind":"TrainJob","spec":{"numNodes":2}}']}}}}}}}
    new = pv("nightly-08a7c83bb3", "b")
    new["spec"]["pipelineSpec"]["deploymentSpec"]["executors"]["x"]["container"]["args"] = [
        '{"kind":"TrainJob","spec":{"numNodes":4}}']
    changes = diff_resources([res(pv("nightly-292c26124d", "a"))], [res(new)])
    assert [(c.op, c.id, c.previous) for c in changes] == [
        ("change", "PipelineVersion/ns/nightly-08a7c83bb3", "PipelineVersion/ns/nightly-292c26124d")]
    paths = {f.path for f in changes[0].fields}
    # a JSON document inside a string is compared by structure
    assert "spec.pipelineSpec.deploymentSpec.executors.x.container.args[0]::spec.numNodes" in paths
    assert changes[0].replace


def test_demand_per_kind() -> None:
    assert demand(trainjob(nodes=3, gpu=2)) == Demand(Decimal(12), Decimal(3 * 16 * 2**30), Decimal(6))
    # predictor 2 × (1 cpu, 2Gi) + canary 1 × (1 cpu, 1Gi)
    assert demand(isvc(canary=10, min_replicas=2)) == Demand(Decimal(3), Decimal(5 * 2**30), Decimal(0))
    spark = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
             "spec": {"driver": {"cores": 1, "memory": "2g"}, "executor": {"cores": 2, "instances": 4, "memory": "4g"}}}
    assert demand(spark) == Demand(Decimal(9), Decimal(18 * 2**30), Decimal(0))
    scheduled = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
                 "spec": {"schedule": "@daily", "template": spark["spec"]}}
    assert demand(scheduled) == demand(spark)
    exp = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
           "spec": {"parallelTrialCount": 4, "trialTemplate": {"trialSpec": trainjob(nodes=2, gpu=1)}}}
    assert demand(exp).gpu == 8
    exp["spec"].pop("parallelTrialCount")
    assert demand(exp).gpu == 6  # Katib's default parallelTrialCount is 3
    nb = {"apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": {"name": "n"},
          "spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"cpu": "2", "memory": "8Gi"}}}]}}}}
    assert demand(nb) == Demand(Decimal(2), Decimal(8 * 2**30), Decimal(0))  # requests default to limits
    nb["metadata"]["annotations"] = {"kubeflow-resource-stopped": "2026-01-01T00:00:00Z"}
    assert demand(nb) == Demand()
    job = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 2, "template": {"spec": {
        "initContainers": [{"resources": {"requests": {"cpu": "8"}}}],
        "containers": [{"resources": {"requests": {"cpu": "500m"}}}, {"resources": {"requests": {"cpu": "1"}}}]}}}}
    assert demand(job).cpu == 16  # a pod requests max(sum of containers, largest init container)


def test_canary_traffic_and_rollout() -> None:
    assert canary_traffic(isvc(canary=10)) == {"v2": 10}
    before, after = [res(isvc(canary=10))], [res(isvc(canary=100))]
    imp = impact(before, after, diff_resources(before, after))
    assert [(t.canary, t.before, t.after, t.rollout) for t in imp.traffic] == [("v2", 10, 100, True)]
    started = impact([res(isvc(canary=None))], [res(isvc(canary=5))],
                     diff_resources([res(isvc(canary=None))], [res(isvc(canary=5))]))
    assert [(t.before, t.after, t.rollout) for t in started.traffic] == [(None, 5, False)]
    knative = isvc(canary=None)
    knative["spec"]["predictor"]["canaryTrafficPercent"] = 100
    assert canary_traffic(knative) == {"predictor (latest revision)": 100}


def test_impact_totals_and_replicas() -> None:
    before = [res(trainjob(nodes=2, gpu=1)), res(isvc(canary=None, min_replicas=1))]
    after = [res(trainjob(nodes=4, gpu=1)), res(isvc(canary=None, min_replicas=3, cpu="2"))]
    imp = impact(before, after, diff_resources(before, after))
    assert (imp.before.gpu, imp.after.gpu, imp.delta.gpu) == (2, 4, 2)
    assert imp.delta.cpu == Decimal(8) + Decimal(6 - 1)
    assert {(r.path, r.before, r.after) for r in imp.replicas} == {
        ("spec.trainer.numNodes", 2, 4), ("spec.predictor.minReplicas", 1, 3)}
    assert [rid for rid, _, _ in imp.replaced] == ["TrainJob/ns/t"]
