"""Training renderer: TrainJob per Trainer release, PyTorchJob on the legacy stack, checked against the
upstream CRD schemas (unknown fields rejected), the API model packages and the webhook rules."""

from __future__ import annotations

import copy
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.core.errors import FindingsError
from kfconf.core.resource import Resource

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference"
TRAINER_CRDS = {"v2.3.0": REFERENCE / "crds/trainer.kubeflow.org",
                "v2.1.0": REFERENCE / "crds/trainer.kubeflow.org/v2.1.0"}
STACK_TRAINER = {"kubeflow-latest": "v2.3.0", "kubeflow-26.03": "v2.1.0"}


# ---------------------------------------------------------------- helpers (shared with the other two files)

def strict(schema: Any) -> Any:
    """A CRD schema that rejects unknown fields, as the API server does with fieldValidation=Strict:
    `additionalProperties: false` wherever there are `properties` and no preserve-unknown-fields."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
        if not out.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [strict(s) for s in out[key]]
    return out


@cache
def crd_validator(path: Path) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load(path.read_text())
    schema = strict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def crd_errors(body: dict[str, Any], crd: Path) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in crd_validator(crd).iter_errors(body)]


def make_project(tmp_path: Path, spec: str, stack: str | None = None, env: str | None = None,
                 overlays: dict[str, str] | None = None) -> tuple[Any, Any]:
    (tmp_path / "ml-project.yaml").write_text(textwrap.dedent(spec))
    for name, text in (overlays or {}).items():
        (tmp_path / "overlays").mkdir(exist_ok=True)
        (tmp_path / "overlays" / f"{name}.yaml").write_text(textwrap.dedent(text))
    project, st, _ = load_project(tmp_path, env, stack)
    return project, st


def rendered(project: Any, stack: Any, component: str) -> list[Resource]:
    from kfconf.components import BY_KEY

    return list(BY_KEY[component].run_render(RenderContext(project, stack, component)))


def by_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r.kind == kind]


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


def test_examples_render_valid_trainjobs() -> None:
    for example in ("churn", "llm-finetune"):
        for env in (None, "dev", "prod"):
            project, stack, _ = load_project(REPO / "examples" / example, env)
            for r in rendered(project, stack, "training"):
                crd = TRAINER_CRDS["v2.3.0"] / f"trainer.kubeflow.org_{r.kind.lower()}s.yaml"
                assert crd_errors(r.body, crd) == [], (example, env, r.id)
                assert r.origin is not None and r.origin.file.endswith("ml-project.yaml")


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


def test_priority_class_cannot_be_expressed_in_a_trainjob(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, PLAIN)
    with pytest.raises(FindingsError) as e:
        rendered(project, stack, "training")
    assert [d.path for d in e.value.diagnostics] == [("spec", "training", 0, "placement", "priorityClass")]


def test_initializer_on_a_runtime_without_one_is_refused(tmp_path: Path) -> None:
    spec = PLAIN_V2.replace("      timeoutSeconds: 600\n",
                            "      runtime: deepspeed-distributed\n      model: {uri: hf://a/b}\n")
    project, stack = make_project(tmp_path, spec)
    with pytest.raises(FindingsError) as e:
        rendered(project, stack, "training")
    (d,) = e.value.diagnostics
    assert d.code == "KF305" and d.path[-1] == "model" and "deepspeed-distributed" in d.message


# ---------------------------------------------------------------- Training Operator v1 (kubeflow-legacy)

def swagger_errors(value: Any, type_name: str, at: str = "") -> list[str]:
    """Walk a body along the openapi_types of the kubeflow-training 1.9 SDK models (and the Kubernetes
    client models they refer to); an unknown key or a wrong scalar type is an error."""
    import kubeflow.training.models as kt
    import kubernetes.client.models as k8s

    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if type_name in scalars:
        ok = isinstance(value, scalars[type_name]) and not (type_name == "int" and isinstance(value, bool))
        return [] if ok else [f"{at}: expected {type_name}, got {value!r}"]
    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{at}: expected a list"]
        return [e for i, v in enumerate(value) for e in swagger_errors(v, type_name[5:-1], f"{at}[{i}]")]
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{at}: expected a mapping"]
        inner = type_name[5:-1].split(", ", 1)[1]
        return [e for k, v in value.items() for e in swagger_errors(v, inner, f"{at}.{k}")]
    cls = getattr(kt, type_name, None) or getattr(k8s, type_name)
    if not isinstance(value, dict):
        return [f"{at}: expected a {type_name} mapping"]
    by_json = {j: a for a, j in cls.attribute_map.items()}
    out = []
    for key, v in value.items():
        if key not in by_json:
            out.append(f"{at}.{key}: unknown field of {type_name}")
        else:
            out += swagger_errors(v, cls.openapi_types[by_json[key]], f"{at}.{key}")
    return out


def test_pytorchjob_on_legacy(tmp_path: Path) -> None:
    project, stack = make_project(tmp_path, PLAIN, stack="kubeflow-legacy")
    (job,) = rendered(project, stack, "training")
    assert (job.api_version, job.kind) == ("kubeflow.org/v1", "PyTorchJob")
    assert swagger_errors(job.body, "KubeflowOrgV1PyTorchJob") == []
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


def test_single_node_pytorchjob_has_no_workers_and_uses_the_runtime_image(tmp_path: Path) -> None:
    spec = PLAIN.replace("      image: ghcr.io/acme/mnist:2\n", "").replace("nodes: 3", "nodes: 1")
    project, stack = make_project(tmp_path, spec, stack="kubeflow-legacy")
    (job,) = rendered(project, stack, "training")
    assert list(job.body["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    image = job.body["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["image"]
    assert image == stack.runtime("training", "torch-distributed")["image"]


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
