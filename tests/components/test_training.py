"""Training renderer: TrainJob per Trainer release, PyTorchJob on the legacy stack, checked against the
upstream CRD schemas (unknown fields rejected), the API model packages and the webhook rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kfconf.build.pipeline import build_project
from kfconf.core.errors import FindingsError
from tests.components.helpers import (
    REFERENCE,
    REPO,
    STACK_TRAINER,
    TRAINER_CRDS,
    by_kind,
    crd_errors,
    make_project,
    rendered,
    swagger_errors,
)

# ---------------------------------------------------------------- fixtures

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo}
spec:
  profile: {namespace: team-a, owner: a@example.com}
  images: {trainer: ghcr.io/acme/train:1.0}
  training:
    - name: sft
      runtime: torchtune-qwen2.5-1.5b
      image: trainer
      command: [tune, run]
      args: {epochs: 2, lr: 0.0001, verbose: true}
      nodes: 1
      procsPerNode: 2
      resources: {cpu: 2, memory: 8Gi, gpu: 2, limits: {memory: 12Gi}}
      model: {uri: "hf://Qwen/Qwen2.5-1.5B", secret: hf}
      dataset: {uri: "hf://tatsu-lab/alpaca"}
      env:
        LITERAL: 1
        FROM_SECRET: {secret: s, key: k}
        FROM_CM: {configMap: c, key: k2}
      volumes:
        - {name: data, mountPath: /data, claim: data-pvc, readOnly: true}
        - {name: scratch, mountPath: /scratch, emptyDir: true}
      queue: gpu-queue
      placement:
        nodeSelector: {pool: gpu}
        tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
"""
TIMEOUT = SPEC.replace("      queue: gpu-queue\n", "      queue: gpu-queue\n      timeoutSeconds: 3600\n")
PLAIN = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo}
spec:
  profile: {namespace: team-a, owner: a@example.com}
  training:
    - name: mnist
      image: ghcr.io/acme/mnist:2
      command: [python, train.py]
      args: {lr: 0.01}
      nodes: 3
      procsPerNode: 4
      resources: {cpu: 4, memory: 16Gi, gpu: 1}
      timeoutSeconds: 600
      volumes: [{name: cfg, mountPath: /etc/cfg, configMap: train-cfg}]
      placement: {nodeSelector: {pool: gpu}, priorityClass: high}
"""
# the same without what Trainer 2.x cannot express (a pod priority class)
PLAIN_V2 = PLAIN.replace(", priorityClass: high", "")


# ---------------------------------------------------------------- Trainer 2.3 (kubeflow-latest)

def test_trainjob_on_latest_is_valid_and_complete(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, TIMEOUT)
    (job,) = rendered(project, stack, "training")
    assert crd_errors(job.body, TRAINER_CRDS["v2.3.0"] / "trainer.kubeflow.org_trainjobs.yaml") == []
    spec = job.body["spec"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                  "name": "torchtune-qwen2.5-1.5b"}
    t = spec["trainer"]
    assert t["image"] == "ghcr.io/acme/train:1.0"
    assert t["args"] == ["--epochs", "2", "--lr", "0.0001", "--verbose", "true"]
    assert (t["numNodes"], t["numProcPerNode"]) == (1, 2)
    assert t["resourcesPerNode"] == {"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "2"},
                                     "limits": {"cpu": "2", "memory": "12Gi", "nvidia.com/gpu": "2"}}
    assert t["env"] == [{"name": "LITERAL", "value": "1"},
                        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                        {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k2"}}}]
    assert spec["initializer"] == {"dataset": {"storageUri": "hf://tatsu-lab/alpaca"},
                                   "model": {"storageUri": "hf://Qwen/Qwen2.5-1.5B", "secretRef": {"name": "hf"}}}
    # Kueue: the queue label and a suspended job that Kueue admits
    assert job.body["metadata"]["labels"] == {"kueue.x-k8s.io/queue-name": "gpu-queue"}
    assert spec["suspend"] is True
    assert spec["activeDeadlineSeconds"] == 3600
    assert "podTemplateOverrides" not in spec
    (patch,) = spec["runtimePatches"]
    assert patch["manager"] == "kfconf.dev/ml-project"
    jobs = {j["name"]: j["template"]["spec"]["template"]["spec"]
            for j in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]}
    # every job of the runtime gets the placement; only the trainer job gets the volumes
    assert set(jobs) == {"dataset-initializer", "model-initializer", "node"}
    assert all(j["nodeSelector"] == {"pool": "gpu"} for j in jobs.values())
    assert "volumes" not in jobs["dataset-initializer"]
    assert jobs["node"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-pvc",
                                                                                "readOnly": True}},
                                       {"name": "scratch", "emptyDir": {}}]
    assert jobs["node"]["containers"] == [{"name": "node", "volumeMounts": [
        {"name": "data", "mountPath": "/data", "readOnly": True}, {"name": "scratch", "mountPath": "/scratch"}]}]
    # webhook: no env on node/initializer containers through patches
    assert all("env" not in c for j in jobs.values() for c in j.get("containers", []))


def test_trainjob_matches_the_trainer_api_models(tmp_path: Path) -> None:
    """The official models (kubeflow-trainer-api 2.3.0) drop fields they do not know: a round trip that
    changes the body would mean a misspelled or misplaced field."""
    from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob

    project, stack = make_project(tmp_path, TIMEOUT)
    (job,) = rendered(project, stack, "training")
    body = copy.deepcopy(job.body)
    assert TrainerV1alpha1TrainJob.from_dict(body).to_dict() == body


def test_derived_runtime_for_initializers_the_runtime_lacks(tmp_path: Path) -> None:
    """torch-distributed has only a `node` job; the webhook rejects initializer.dataset on it, so kfconf
    adds a namespaced TrainingRuntime with the initializer jobs and a shared per-job volume."""
    spec = PLAIN_V2.replace("      timeoutSeconds: 600\n", "      dataset: {uri: s3://bucket/data}\n")
    project, stack = make_project(tmp_path, spec)
    runtime, job = rendered(project, stack, "training")
    assert runtime.kind == "TrainingRuntime" and job.kind == "TrainJob"
    assert crd_errors(runtime.body, TRAINER_CRDS["v2.3.0"] / "trainer.kubeflow.org_trainingruntimes.yaml") == []
    assert crd_errors(job.body, TRAINER_CRDS["v2.3.0"] / "trainer.kubeflow.org_trainjobs.yaml") == []
    assert job.body["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime",
                                              "name": runtime.name}
    rjobs = runtime.body["spec"]["template"]["spec"]["replicatedJobs"]
    assert [j["name"] for j in rjobs] == ["dataset-initializer", "node"]
    init, node = (j["template"]["spec"]["template"]["spec"]["containers"][0] for j in rjobs)
    # the webhook's conventions: ancestor labels, a container named like its job, the `initializer` mount
    assert init["name"] == "dataset-initializer"
    assert rjobs[0]["template"]["metadata"]["labels"] == {"trainer.kubeflow.org/trainjob-ancestor-step":
                                                          "dataset-initializer"}
    assert rjobs[1]["dependsOn"] == [{"name": "dataset-initializer", "status": "Complete"}]
    assert init["volumeMounts"] == node["volumeMounts"] == [{"name": "initializer", "mountPath": "/workspace"}]
    claim = runtime.body["spec"]["template"]["spec"]["volumeClaimPolicies"][0]["templates"][0]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # 3 nodes read the same download
    assert node["image"] == stack.runtime("training", "torch-distributed")["image"]
    assert runtime.body["spec"]["mlPolicy"] == {"numNodes": 1, "torch": {}}
    # patches name jobs that exist in the derived runtime
    patched = [j["name"] for j in job.body["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
               ["replicatedJobs"]]
    assert set(patched) <= {j["name"] for j in rjobs}


def test_explain_points_at_spec_lines_and_the_stack(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, SPEC, env="prod", overlays={"prod": """\
        apiVersion: kfconf.dev/v1alpha1
        kind: Overlay
        spec:
          training:
            - name: sft
              procsPerNode: 4
        """})
    (job,) = rendered(project, stack, "training")
    assert job.origin is not None and job.origin.line == 8  # `- name: sft`
    assert job.explain["spec.trainer.numProcPerNode"] == "overlays/prod.yaml:6"
    assert job.explain["spec.trainer.numNodes"] == "ml-project.yaml:13"
    assert job.explain["spec.trainer.env[1]"] == "ml-project.yaml:20"
    assert job.explain["apiVersion"] == "stack kubeflow-latest: components.trainer.apiVersion"
    assert job.explain["spec.runtimePatches"].startswith("stack kubeflow-latest:")


# ---------------------------------------------------------------- Trainer 2.1 (kubeflow-26.03)

def test_trainjob_on_26_03_uses_pod_template_overrides(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, SPEC, stack="kubeflow-26.03")
    (job,) = rendered(project, stack, "training")
    crd21 = TRAINER_CRDS["v2.1.0"] / "trainer.kubeflow.org_trainjobs.yaml"
    crd23 = TRAINER_CRDS["v2.3.0"] / "trainer.kubeflow.org_trainjobs.yaml"
    assert crd_errors(job.body, crd21) == []
    spec = job.body["spec"]
    assert "runtimePatches" not in spec and "activeDeadlineSeconds" not in spec
    overrides = spec["podTemplateOverrides"]
    # one override per distinct patch: placement on the initializers, placement + volumes on node
    assert [[t["name"] for t in o["targetJobs"]] for o in overrides] == [
        ["dataset-initializer", "model-initializer"], ["node"]]
    assert overrides[1]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "data-pvc"
    # the same object is not a 2.3 TrainJob (podTemplateOverrides was removed in 2.2) …
    assert any("podTemplateOverrides" in e for e in crd_errors(job.body, crd23))
    # … and the 2.3 object is not a 2.1 one: output differs exactly where the APIs differ
    latest, latest_stack = make_project(tmp_path, SPEC)
    (job23,) = rendered(latest, latest_stack, "training")
    assert any("runtimePatches" in e for e in crd_errors(job23.body, crd21))
    assert {k: v for k, v in job23.body["spec"].items() if k != "runtimePatches"} == \
        {k: v for k, v in spec.items() if k != "podTemplateOverrides"}


def test_timeout_on_26_03_is_refused_on_the_spec_line(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, TIMEOUT, stack="kubeflow-26.03")
    with pytest.raises(FindingsError) as e:
        rendered(project, stack, "training")
    (d,) = e.value.diagnostics
    assert d.code == "KF305" and d.path == ("spec", "training", 0, "timeoutSeconds")
    assert d.loc is not None and d.loc.line == 26
    assert "activeDeadlineSeconds" in d.message and "kubeflow-26.03" in d.message


def test_timeout_on_26_03_moves_to_the_job_of_a_derived_runtime(tmp_path: Path) -> None:
    """Trainer 2.1's TrainJob has no deadline; the node Job of a derived TrainingRuntime carries it."""
    project, stack = make_project(tmp_path, PLAIN_V2, stack="kubeflow-26.03")
    resources = rendered(project, stack, "training")
    (job,) = by_kind(resources, "TrainJob")
    (runtime,) = by_kind(resources, "TrainingRuntime")
    assert "activeDeadlineSeconds" not in job.body["spec"]
    assert job.body["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime",
                                              "name": runtime.name}
    (node,) = runtime.body["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["template"]["spec"]["activeDeadlineSeconds"] == 600
    crd21 = REFERENCE / "crds/trainer.kubeflow.org/v2.1.0"
    assert crd_errors(runtime.body, crd21 / "trainer.kubeflow.org_trainingruntimes.yaml") == []
    assert crd_errors(job.body, crd21 / "trainer.kubeflow.org_trainjobs.yaml") == []


def test_priority_class_cannot_be_expressed_in_a_trainjob(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, PLAIN)
    with pytest.raises(FindingsError) as e:
        rendered(project, stack, "training")
    assert [d.path for d in e.value.diagnostics] == [("spec", "training", 0, "placement", "priorityClass")]


# ---------------------------------------------------------------- Training Operator v1 (kubeflow-legacy)

def sdk_errors(body: dict[str, Any]) -> list[str]:
    """The kubeflow-training SDK's own deserializer: its models refuse a missing required field."""
    from types import SimpleNamespace

    from kubeflow.training import ApiClient

    try:
        ApiClient().deserialize(SimpleNamespace(data=json.dumps(body)), "KubeflowOrgV1PyTorchJob")
    except ValueError as e:
        return [str(e)]
    return []


def test_pytorchjob_on_legacy(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, PLAIN, stack="kubeflow-legacy")
    (job,) = rendered(project, stack, "training")
    assert (job.api_version, job.kind) == ("kubeflow.org/v1", "PyTorchJob")
    assert stack_errors(job.body, "kubeflow-legacy") == []
    spec = job.body["spec"]
    assert spec["nprocPerNode"] == "4"
    assert spec["runPolicy"] == {"activeDeadlineSeconds": 600}
    master, worker = spec["pytorchReplicaSpecs"]["Master"], spec["pytorchReplicaSpecs"]["Worker"]
    assert (master["replicas"], worker["replicas"]) == (1, 2)
    pod = master["template"]["spec"]
    assert pod == worker["template"]["spec"] and pod is not worker["template"]["spec"]
    (c,) = pod["containers"]
    assert c["name"] == "pytorch" and c["image"] == "ghcr.io/acme/mnist:2"
    assert c["args"] == ["--lr", "0.01"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["priorityClassName"] == "high"  # a PyTorchJob pod can carry one
    assert pod["volumes"] == [{"name": "cfg", "configMap": {"name": "train-cfg"}}]


def test_the_swagger_walk_rejects_unknown_fields() -> None:
    body = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "x"},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {
                "containers": [{"name": "pytorch", "image": "i", "resource": {}}]}}}}, "numNodes": 2}}
    errors = swagger_errors(body, "KubeflowOrgV1PyTorchJob")
    assert any("numNodes" in e for e in errors) and any("resource:" in e for e in errors)


def test_the_sdk_check_rejects_a_missing_required_field() -> None:
    body = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "x"},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {
                "containers": [{"name": "pytorch", "image": "i"}]}}}}}}
    assert any("run_policy" in e for e in sdk_errors(body))
    body["spec"]["runPolicy"] = {}
    assert sdk_errors(body) == []


def test_single_node_pytorchjob_has_no_workers_and_uses_the_runtime_image(tmp_path: Path) -> None:
    spec = PLAIN.replace("      image: ghcr.io/acme/mnist:2\n", "").replace("nodes: 3", "nodes: 1")
    project, stack = make_project(tmp_path, spec, stack="kubeflow-legacy")
    (job,) = rendered(project, stack, "training")
    assert list(job.body["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    image = job.body["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["image"]
    assert image == stack.runtime("training", "torch-distributed")["image"]


# ---------------------------------------------------------------- initializers on every stack, every example

STACKS = ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy")
WORKLOADS = ("TrainJob", "TrainingRuntime", "PyTorchJob")


def example_builds() -> list[tuple[str, str | None, str]]:
    out = []
    for example in ("churn", "llm-finetune"):
        envs = [None, *sorted(p.stem for p in (REPO / "examples" / example / "overlays").glob("*.yaml"))]
        out += [(example, env, stack) for stack in STACKS for env in envs]
    return out


def workloads(value: Any) -> list[dict[str, Any]]:
    """Every TrainJob, TrainingRuntime and PyTorchJob in a build: the resources themselves, Katib trial
    templates, and the jobs a KFP step creates (JSON strings inside the pipeline IR)."""
    if isinstance(value, dict):
        found = [value] if value.get("kind") in WORKLOADS and "spec" in value else []
        return found + [w for v in value.values() for w in workloads(v)]
    if isinstance(value, list):
        return [w for v in value for w in workloads(v)]
    if isinstance(value, str) and value.startswith("{") and '"kind":' in value:
        try:
            return workloads(json.loads(value))
        except ValueError:
            return []
    return []


def stack_errors(body: dict[str, Any], stack: str) -> list[str]:
    if body["kind"] == "PyTorchJob":
        return swagger_errors(body, "KubeflowOrgV1PyTorchJob") + sdk_errors(body)
    return crd_errors(body, TRAINER_CRDS[STACK_TRAINER[stack]] / f"trainer.kubeflow.org_{body['kind'].lower()}s.yaml")


def node_pod(runtime: dict[str, Any]) -> dict[str, Any]:
    (node,) = [j for j in runtime["spec"]["template"]["spec"]["replicatedJobs"] if j["name"] == "node"]
    return node["template"]["spec"]["template"]["spec"]


@pytest.mark.parametrize(("example", "env", "stack"), example_builds())
def test_examples_build_and_match_the_stack_apis(example: str, env: str | None, stack: str) -> None:
    """The whole build (output check included) succeeds, and every training object in it, wherever it
    sits, is accepted by the upstream schema of that stack's release (unknown fields rejected)."""
    result = build_project(REPO / "examples" / example, env, stack)
    found = workloads([r.body for r in result.resources])
    kinds = {b["kind"] for b in found}
    assert kinds == ({"PyTorchJob"} if stack == "kubeflow-legacy" else {"TrainJob", "TrainingRuntime"})
    for body in found:
        assert stack_errors(body, stack) == [], (body["kind"], body.get("metadata"))
    project = result.project.model.spec
    (entry,) = project.training
    uris = {k: getattr(entry, k).uri for k in ("dataset", "model") if getattr(entry, k) is not None}
    assert uris  # both examples fetch something: the point of this test
    for body in found:
        if body["kind"] == "TrainJob":
            init = body["spec"].get("initializer", {})
            if stack == "kubeflow-latest":
                assert {k: v["storageUri"] for k, v in init.items()} == uris
            else:  # Trainer 2.1: in the runtime's pods, not spec.initializer (no initializer jobs to feed)
                assert init == {}
        pods = ([node_pod(body)] if body["kind"] == "TrainingRuntime" and stack == "kubeflow-26.03" else
                [r["template"]["spec"] for r in body["spec"]["pytorchReplicaSpecs"].values()]
                if body["kind"] == "PyTorchJob" else [])
        for pod in pods:
            fetched = {c["name"].removesuffix("-initializer"): c["env"][0]["value"] for c in pod["initContainers"]}
            assert fetched == uris


def trainer21_webhook_errors(job: dict[str, Any], runtime: dict[str, Any]) -> list[str]:
    """Trainer 2.1's TrainJob webhook (pkg/runtime/framework/plugins/jobset Validate), restated: an
    initializer needs a job of its name holding a (init) container of its name; podTemplateOverrides may
    only target existing jobs and containers, and set no env on node or initializer containers."""
    names = {j["name"]: {c["name"] for k in ("initContainers", "containers")
                         for c in j["template"]["spec"]["template"]["spec"].get(k, [])}
             for j in runtime["spec"]["template"]["spec"]["replicatedJobs"]}
    errors = [f"initializer.{k}: no {k}-initializer job/container" for k in job["spec"].get("initializer", {})
              if f"{k}-initializer" not in names.get(f"{k}-initializer", set())]
    for o in job["spec"].get("podTemplateOverrides", []):
        for t in o["targetJobs"]:
            containers = names.get(t["name"])
            if containers is None:
                errors.append(f"targetJob {t['name']} not in the runtime")
                continue
            for k in ("initContainers", "containers"):
                for c in o.get("spec", {}).get(k, []):
                    if c["name"] not in containers:
                        errors.append(f"{k} {c['name']} not in job {t['name']}")
                    elif k == "containers" and c.get("env") and c["name"] in (
                            "node", "dataset-initializer", "model-initializer"):
                        errors.append(f"env on {c['name']}")
    return errors


FETCH = PLAIN_V2.replace("      timeoutSeconds: 600\n", """\
      dataset: {uri: s3://bucket/churn, secret: s3-creds}
      model: {uri: hf://Qwen/Qwen2.5-0.5B}
""")


def test_trainer_2_1_fetches_in_init_containers_of_a_derived_runtime(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, FETCH, stack="kubeflow-26.03")
    runtime, job = rendered(project, stack, "training")
    assert (runtime.kind, job.kind) == ("TrainingRuntime", "TrainJob")
    assert stack_errors(runtime.body, "kubeflow-26.03") == stack_errors(job.body, "kubeflow-26.03") == []
    assert job.body["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime",
                                              "name": runtime.name}
    assert "initializer" not in job.body["spec"]
    assert trainer21_webhook_errors(job.body, runtime.body) == []
    # the derived runtime is the single node job of torch-distributed (the trainer's ancestor label)
    (rjob,) = runtime.body["spec"]["template"]["spec"]["replicatedJobs"]
    assert rjob["name"] == "node" and "dependsOn" not in rjob
    assert rjob["template"]["metadata"]["labels"] == {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
    pod = node_pod(runtime.body)
    dataset, model = pod["initContainers"]
    # the images of the stack's Trainer release, with the env the Trainer gives its initializer containers
    assert dataset["image"] == "ghcr.io/kubeflow/trainer/dataset-initializer:v2.1.0"
    assert model["image"] == "ghcr.io/kubeflow/trainer/model-initializer:v2.1.0"
    assert dataset["env"] == [{"name": "STORAGE_URI", "value": "s3://bucket/churn"}]
    assert dataset["envFrom"] == [{"secretRef": {"name": "s3-creds"}}] and "envFrom" not in model
    assert dataset["volumeMounts"] == [{"name": "dataset-initializer", "mountPath": "/workspace/dataset"}]
    assert model["volumeMounts"] == [{"name": "model-initializer", "mountPath": "/workspace/model"}]
    # a quota on cpu/memory rejects containers without requests; GPUs stay with the trainer
    assert dataset["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"},
                                    "limits": {"cpu": "4", "memory": "16Gi"}}
    (node,) = pod["containers"]
    assert node["name"] == "node" and node["image"] == stack.runtime("training", "torch-distributed")["image"]
    assert node["volumeMounts"] == [{"name": "dataset-initializer", "mountPath": "/workspace/dataset"},
                                    {"name": "model-initializer", "mountPath": "/workspace/model"}]
    assert pod["volumes"] == [{"name": "dataset-initializer", "emptyDir": {"sizeLimit": "20Gi"}},
                              {"name": "model-initializer", "emptyDir": {"sizeLimit": "20Gi"}}]
    # the user's volume reaches the node job through 2.1's podTemplateOverrides, beside the initializers'
    (override,) = job.body["spec"]["podTemplateOverrides"]
    assert override["targetJobs"] == [{"name": "node"}]
    assert override["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "train-cfg"}}]
    assert runtime.explain["spec.template.spec.replicatedJobs[node].template.spec.template.spec.initContainers"
                           "[model-initializer]"] == "ml-project.yaml:15"


def test_the_2_3_shape_is_not_expressible_in_trainer_2_1(tmp_path: Path) -> None:
    """Why 26.03 differs: the runtime kfconf derives on Trainer 2.3 shares a volumeClaimPolicies PVC,
    a field Trainer 2.1's JobSet template does not have; the 2.1 runtime is valid on 2.3 as well."""
    latest, latest_stack = make_project(tmp_path, FETCH)
    runtime23, job23 = rendered(latest, latest_stack, "training")
    assert [j["name"] for j in runtime23.body["spec"]["template"]["spec"]["replicatedJobs"]] == [
        "dataset-initializer", "model-initializer", "node"]
    assert job23.body["spec"]["initializer"]["dataset"] == {"storageUri": "s3://bucket/churn",
                                                            "secretRef": {"name": "s3-creds"}}
    crd21 = TRAINER_CRDS["v2.1.0"] / "trainer.kubeflow.org_trainingruntimes.yaml"
    assert any("volumeClaimPolicies" in e for e in crd_errors(runtime23.body, crd21))
    project, stack = make_project(tmp_path, FETCH, stack="kubeflow-26.03")
    runtime21, _ = rendered(project, stack, "training")
    assert crd_errors(runtime21.body, TRAINER_CRDS["v2.3.0"] / "trainer.kubeflow.org_trainingruntimes.yaml") == []


def test_pytorchjob_fetches_in_init_containers_of_every_replica(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, FETCH, stack="kubeflow-legacy")
    (job,) = rendered(project, stack, "training")
    assert stack_errors(job.body, "kubeflow-legacy") == []
    assert job.body["spec"]["runPolicy"] == {}  # required by the v1 API even when empty
    replicas = job.body["spec"]["pytorchReplicaSpecs"]
    assert list(replicas) == ["Master", "Worker"]
    for replica in replicas.values():
        pod = replica["template"]["spec"]
        assert [c["name"] for c in pod["initContainers"]] == ["dataset-initializer", "model-initializer"]
        assert pod["initContainers"][1]["env"] == [{"name": "STORAGE_URI", "value": "hf://Qwen/Qwen2.5-0.5B"}]
        (c,) = pod["containers"]
        assert c["name"] == "pytorch"
        assert c["volumeMounts"] == [{"name": "cfg", "mountPath": "/etc/cfg"},
                                     {"name": "dataset-initializer", "mountPath": "/workspace/dataset"},
                                     {"name": "model-initializer", "mountPath": "/workspace/model"}]
        assert [v["name"] for v in pod["volumes"]] == ["cfg", "dataset-initializer", "model-initializer"]
    assert replicas["Master"]["template"]["spec"] is not replicas["Worker"]["template"]["spec"]
    # the legacy stack names the Trainer initializer images it runs (no Training Operator equivalent)
    assert replicas["Master"]["template"]["spec"]["initContainers"][0]["image"] == \
        stack.component("trainer")["initializerImages"]["dataset"]


@pytest.mark.parametrize("stack", STACKS)
def test_a_cache_dataset_is_not_fetched_by_a_derived_initializer(tmp_path: Path, stack: str) -> None:
    """cache:// is served by the data-cache runtime's own initializer (its cache cluster settings)."""
    spec = FETCH.replace("s3://bucket/churn, secret: s3-creds", "cache://features")
    project, st = make_project(tmp_path, spec, stack=stack)
    with pytest.raises(FindingsError) as e:
        rendered(project, st, "training")
    (d,) = e.value.diagnostics
    assert d.code == "KF305" and d.path == ("spec", "training", 0, "dataset", "uri")
    assert "torch-distributed-with-cache" in d.message


def test_initializer_volumes_and_paths_are_reserved(tmp_path: Path) -> None:
    spec = FETCH.replace("volumes: [{name: cfg, mountPath: /etc/cfg, configMap: train-cfg}]",
                         "volumes: [{name: model-initializer, mountPath: /workspace/model/, emptyDir: true}]")
    with pytest.raises(FindingsError) as e:
        make_project(tmp_path, spec, stack="kubeflow-26.03")
    found = {(d.code, d.path[-1]) for d in e.value.diagnostics}
    assert found == {("KF206", "name"), ("KF206", "mountPath")}


@pytest.mark.parametrize("stack", ["kubeflow-latest", "kubeflow-26.03"])
def test_a_model_on_a_runtime_that_cannot_fetch_one_is_refused_on_the_spec_line(tmp_path: Path, stack: str) -> None:
    """deepspeed's node + launcher (OpenMPI, ssh) is not restated in a derived runtime: KF305, with why."""
    spec = PLAIN_V2.replace("      timeoutSeconds: 600\n",
                            "      runtime: deepspeed-distributed\n      model: {uri: hf://a/b}\n")
    with pytest.raises(FindingsError) as e:
        make_project(tmp_path, spec, stack=stack)
    (d,) = [d for d in e.value.diagnostics if d.code == "KF305"]
    assert d.path == ("spec", "training", 0, "model") and d.loc is not None and d.loc.line == 15
    assert "deepspeed-distributed" in d.message and "node, launcher" in d.message


# ---------------------------------------------------------------- health

def test_health_rules() -> None:
    from kfconf.components.training.health import HEALTH

    def obj(*conds: tuple[str, str], **spec: Any) -> dict[str, Any]:
        return {"spec": spec, "status": {"conditions": [{"type": t, "status": s, "reason": t + "Reason"}
                                                        for t, s in conds]}}

    tj = HEALTH["TrainJob"]
    assert tj(obj(("Created", "True"), ("Complete", "True"))).state == "Healthy"
    assert tj(obj(("Failed", "True"))).state == "Degraded"
    assert tj(obj(("Complete", "False"))).state == "Progressing"
    assert tj({"spec": {}}).state == "Progressing"  # no status yet; a TrainJob has no Ready
    assert tj(obj(("Ready", "True"))).state == "Progressing"
    assert tj(obj(suspend=True)).state == "Suspended"
    pj = HEALTH["PyTorchJob"]
    assert pj(obj(("Running", "True"), ("Succeeded", "True"))).state == "Healthy"
    assert pj(obj(("Failed", "True"))).message == "FailedReason"
    assert pj(obj(("Running", "True"))).state == "Progressing"
    assert pj({"spec": {"runPolicy": {"suspend": True}}}).state == "Suspended"
    assert HEALTH["TrainingRuntime"]({"spec": {}}).state == "Healthy"
