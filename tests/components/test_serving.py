"""Serving renderer: InferenceService (and ServingRuntime) per KServe release, checked against the KServe
CRDs (strict; KServe 0.16 is the 0.20 schema without the fields 0.20 added), the webhook rules in
notes §3, KServe's runtime selection, and the per-stack differences; InferenceService health."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.components import BY_KEY
from kfconf.components.serving.health import HEALTH, inference_service
from kfconf.components.serving.runtimes import auto_runtime, supporting
from kfconf.core.errors import FindingsError, Severity
from kfconf.core.resource import Resource
from kfconf.spec.stacks import load_stack
from kfconf.testing.crds import CrdSchema, drop_paths

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO.parent / "shared" / "reference" / "crds" / "serving.kserve.io"
ISVC = CRDS / "serving.kserve.io_inferenceservices.yaml"
ADDED_IN_020 = drop_paths(  # notes §0: what KServe 0.20 added to 0.16; nothing was removed
    ("spec", "canary"), ("spec", "predictor", "name"), ("spec", "predictor", "storageContainerName"),
    ("spec", "predictor", "hostnameOverride"), ("spec", "predictor", "model", "confidential"),
    ("spec", "predictor", "model", "restartPolicyRules"))
ISVC_SCHEMA = {"v0.20.0": CrdSchema(ISVC, "v1beta1"), "v0.16.0": CrdSchema(ISVC, "v1beta1", drop=ADDED_IN_020),
               "v0.15.0": CrdSchema(ISVC, "v1beta1", drop=ADDED_IN_020)}
RUNTIME_SCHEMA = CrdSchema(CRDS / "serving.kserve.io_servingruntimes.yaml", "v1alpha1")
STACKS = ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy", "local")
IMPLEMENTATIONS = ("model", "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "triton", "onnx", "pmml",
                   "paddle", "huggingface", "containers")
NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: a@example.com}
spec:
  profile: {namespace: team-a}
  images: {transformer: ghcr.io/acme/transformer:1.0}
  training:
    - {name: trainer, image: ghcr.io/acme/t:1, command: [python, train.py]}
  registry:
    - {name: churn, from: training/trainer, version: v3, format: {name: pytorch, version: "1"}}
    - {name: clf, from: "s3://acme/clf", version: v7, format: sklearn}
  serving:
    - name: churn
      model: registry/churn
      replicas: {min: 2, max: 6}
      resources: {cpu: 2, memory: 4Gi, gpu: 1}
      env: {WORKERS: 2, TOKEN: {secret: api, key: token}}
      autoscaling: {metric: cpu, target: 70}
      canary: {percent: 20}
      transformer:
        image: transformer
        args: [--feature-store, redis]
        resources: {cpu: 1, memory: 1Gi}
      placement:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
    - name: clf
      model: registry/clf
      explainer: {config: {nb_classes: "10"}}
    - name: raw
      model: "gs://acme/models/xgb"
      format: xgboost
      protocol: v2
      replicas: {min: 1, max: 1}
"""


def project(tmp_path: Path, spec: str = SPEC, stack: str | None = None) -> tuple[Any, Any]:
    (tmp_path / "ml-project.yaml").write_text(textwrap.dedent(spec))
    p, st, _ = load_project(tmp_path, None, stack)
    return p, st


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def render(p: Any, st: Any) -> list[Resource]:
    return list(BY_KEY["serving"].run_render(RenderContext(p, st, "serving")))


def isvc(resources: list[Resource], name: str) -> dict[str, Any]:
    return next(r.body for r in resources if r.kind == "InferenceService" and r.name == name)


def findings(tmp_path: Path, spec: str, stack: str | None = None) -> list[tuple[str, str, tuple[Any, ...]]]:
    try:
        project(tmp_path, spec, stack)
    except FindingsError as e:
        return [(d.code, d.severity.value, d.path) for d in e.diagnostics]
    return []


def webhook_errors(body: dict[str, Any]) -> list[str]:
    """The InferenceService admission rules kfconf output must pass (notes §3)."""
    out: list[str] = []
    spec = body["spec"]
    if not NAME.match(body["metadata"]["name"]):
        out.append("name")
    predictors = [("predictor", spec["predictor"])] + [(f"canary[{i}]", c["predictor"])
                                                       for i, c in enumerate(spec.get("canary", []))]
    for where, pred in predictors:
        impls = [k for k in IMPLEMENTATIONS if k in pred]
        if len(impls) != 1:
            out.append(f"{where}: exactly one implementation, got {impls}")
        for impl in impls:
            if where == "predictor" and impl != "containers" and "name" in pred[impl]:
                out.append(f"{where}.{impl}: container name not allowed")  # validatePredictor: stable only
            if impl != "containers" and "storageUri" in pred[impl] and "storageUris" in pred:
                out.append(f"{where}: storageUri and storageUris")
    annotations = body["metadata"].get("annotations", {})
    for part in ("predictor", "transformer", "explainer"):  # validateAutoScalingCompExtension
        ext = spec.get(part)
        if ext is None:
            continue
        metric = ext.get("scaleMetric")
        if annotations.get("serving.kserve.io/deploymentMode") in ("Standard", "RawDeployment"):
            hpa = annotations.get("serving.kserve.io/autoscalerClass") == "hpa"
        else:
            hpa = annotations.get("autoscaling.knative.dev/class") == "hpa.autoscaling.knative.dev"
            if not hpa and (metric or "concurrency") not in ("concurrency", "rps"):
                out.append(f"{part}: {metric} is not a KPA metric")
        if hpa and (metric or "cpu") not in ("cpu", "memory"):
            out.append(f"{part}: {metric} is not an HPA metric")
        if hpa and (metric or "cpu") == "cpu" and not 1 <= ext.get("scaleTarget", 1) <= 100:
            out.append(f"{part}: cpu target outside 1-100")
    if spec.get("canary"):
        mode = body["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode")
        if mode not in ("Standard", "RawDeployment"):
            out.append("canary[] needs Standard mode")
        if sum(c["trafficPercent"] for c in spec["canary"]) > 100:
            out.append("canary traffic over 100")
        names = [c["predictor"].get("name") for c in spec["canary"]]
        if None in names or len(set(names)) != len(names) or spec["predictor"].get("name") in names:
            out.append("canary names")
        for c in spec["canary"]:
            p = c["predictor"]
            if set(p) & {"maxReplicas", "scaleTarget", "scaleMetric", "autoScaling", "workerSpec"}:
                out.append("canary predictors run fixed replicas")
            if p.get("minReplicas", 1) > spec["predictor"].get("minReplicas", 1):
                out.append("canary minReplicas above the stable minimum")
    for c in spec.get("transformer", {}).get("containers", []):
        if any(e["name"] == "STORAGE_URI" for e in c.get("env", [])):
            out.append("transformer storageUri")
    return out


def schema_errors(r: Resource, st: Any) -> list[str]:
    if r.kind == "ServingRuntime":
        return RUNTIME_SCHEMA.errors(r.body)
    return ISVC_SCHEMA[st.component("kserve")["version"]].errors(r.body)


# ------------------------------------------------------------------ bodies

def test_inference_service_on_kubeflow_latest(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    body = isvc(render(p, st), "churn")
    model = {
        "modelFormat": {"name": "pytorch", "version": "1"},
        "storageUri": "model-registry://churn/v3",
        "resources": {"limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
                      "requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}},
        "env": [{"name": "WORKERS", "value": "2"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
    }
    tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert body == {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "churn", "namespace": "team-a",
                     "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
        "spec": {
            "predictor": {"model": model, "minReplicas": 2, "maxReplicas": 6, "scaleMetric": "cpu",
                          "scaleTarget": 70, "tolerations": tolerations},
            "canary": [{"trafficPercent": 20, "predictor": {
                "name": "canary", "minReplicas": 1, "tolerations": tolerations,
                "model": {"name": "kserve-container", **model, "storageUri": "model-registry://churn"}}}],
            "transformer": {"containers": [{
                "name": "kserve-container", "image": "ghcr.io/acme/transformer:1.0",
                "args": ["--feature-store", "redis"],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}],
                "tolerations": tolerations},
        },
    }


def test_other_entries(tmp_path: Path) -> None:
    resources = render(*project(tmp_path))
    clf = isvc(resources, "clf")["spec"]
    assert clf["predictor"]["model"] == {"modelFormat": {"name": "sklearn"}, "storageUri": "model-registry://clf/v7"}
    assert clf["explainer"] == {"art": {"type": "SquareAttack", "config": {"nb_classes": "10"}}}
    raw = isvc(resources, "raw")["spec"]["predictor"]
    assert raw == {"model": {"modelFormat": {"name": "xgboost"}, "protocolVersion": "v2",
                             "storageUri": "gs://acme/models/xgb"}, "minReplicas": 1, "maxReplicas": 1}
    trained = SPEC.replace('model: "gs://acme/models/xgb"', "model: training/trainer")
    uri = isvc(render(*project(tmp_path, trained)), "raw")["spec"]["predictor"]["model"]["storageUri"]
    assert uri == "s3://mlpipeline/models/team-a/demo/trainer"


def test_canary_on_kserve_016_splits_knative_revisions(tmp_path: Path) -> None:
    latest = render(*project(tmp_path, stack="kubeflow-latest"))
    old = render(*project(tmp_path, stack="kubeflow-26.03"))
    new_body, old_body = isvc(latest, "churn"), isvc(old, "churn")
    assert old_body["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "Serverless",
                                                   # cpu scaling of a Knative service: the HPA class
                                                   "autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev"}
    assert "canary" not in old_body["spec"]
    pred = old_body["spec"]["predictor"]
    assert pred["canaryTrafficPercent"] == 20
    assert pred["model"]["storageUri"] == "model-registry://churn"  # the candidate; the last revision keeps 80%
    # everything else is the same object
    stable = {k: v for k, v in new_body["spec"]["predictor"].items()}
    assert {k: v for k, v in pred.items() if k not in ("canaryTrafficPercent", "model")} == \
        {k: v for k, v in stable.items() if k != "model"}
    assert {k: v for k, v in pred["model"].items() if k != "storageUri"} == \
        {k: v for k, v in stable["model"].items() if k != "storageUri"}
    assert old_body["spec"]["transformer"] == new_body["spec"]["transformer"]
    assert render(*project(tmp_path, stack="kubeflow-legacy"))[0].body == old_body


def test_deployment_modes(tmp_path: Path) -> None:
    knative = SPEC.replace("      canary: {percent: 20}\n", "      canary: {percent: 20, model: registry/clf}\n"
                           "      deploymentMode: Knative\n").replace("metric: cpu", "metric: concurrency")
    body = isvc(render(*project(tmp_path, knative)), "churn")
    assert body["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert "canary" not in body["spec"] and body["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert body["spec"]["predictor"]["model"]["storageUri"] == "model-registry://clf/v7"
    assert body["spec"]["predictor"]["scaleMetric"] == "concurrency"
    assert "autoscaling.knative.dev/class" not in body["metadata"]["annotations"]
    hpa = isvc(render(*project(tmp_path, knative.replace("metric: concurrency", "metric: cpu"))), "churn")
    assert hpa["metadata"]["annotations"]["autoscaling.knative.dev/class"] == "hpa.autoscaling.knative.dev"
    assert webhook_errors(hpa) == []
    del hpa["metadata"]["annotations"]["autoscaling.knative.dev/class"]
    assert webhook_errors(hpa) == ["predictor: cpu is not a KPA metric"]
    raw = isvc(render(*project(tmp_path, SPEC, "kubeflow-26.03")), "raw")
    assert raw["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    standard = SPEC.replace("      replicas: {min: 1, max: 1}\n", "      replicas: {min: 1, max: 1}\n"
                            "      deploymentMode: Standard\n")
    raw = isvc(render(*project(tmp_path, standard, "kubeflow-26.03")), "raw")
    assert raw["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"


def test_canary_model_and_explain(tmp_path: Path) -> None:
    spec = SPEC.replace("canary: {percent: 20}", "canary: {percent: 20, model: \"s3://acme/candidate\"}")
    r = next(r for r in render(*project(tmp_path, spec)) if r.name == "churn")
    assert r.body["spec"]["canary"][0]["predictor"]["model"]["storageUri"] == "s3://acme/candidate"
    canary_line = line_of(spec, "canary: {percent: 20, model:")
    model_line, version_line = line_of(spec, "model: registry/churn"), line_of(spec, "{name: churn, from:")
    assert r.explain["spec.canary[0].predictor.model.storageUri"] == f"ml-project.yaml:{canary_line}"
    assert r.explain["spec.predictor.model.storageUri"] == \
        f"ml-project.yaml:{model_line} + registry version (ml-project.yaml:{version_line})"
    assert r.explain["spec.predictor.model.modelFormat.name"].endswith(
        "→ KServe auto-selects stack kubeflow-latest: runtimes.serving.kserve-torchserve")
    assert r.explain["metadata.annotations.serving.kserve.io/deploymentMode"] == \
        "stack kubeflow-latest: components.kserve.deploymentMode"
    newest = next(r for r in render(*project(tmp_path)) if r.name == "churn")
    assert newest.explain["spec.canary[0].predictor.model.storageUri"] == \
        f"ml-project.yaml:{line_of(SPEC, 'model: registry/churn')} (the newest version)"


def test_custom_runtime(tmp_path: Path) -> None:
    spec = SPEC + """\
    - name: custom
      model: "s3://acme/custom"
      format: acme-format
      customRuntime: {image: ghcr.io/acme/server:2, formats: ["acme-format:1"], args: [--port=8080],
                      protocols: [v2]}
"""
    p, st = project(tmp_path, spec)
    resources = render(p, st)
    runtime = next(r for r in resources if r.kind == "ServingRuntime")
    assert runtime.body == {
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
        "metadata": {"name": "custom-runtime", "namespace": "team-a"},
        "spec": {"supportedModelFormats": [{"name": "acme-format", "version": "1", "autoSelect": False}],
                 "protocolVersions": ["v2"],
                 "containers": [{"name": "kserve-container", "image": "ghcr.io/acme/server:2",
                                 "args": ["--port=8080"]}]}}
    assert isvc(resources, "custom")["spec"]["predictor"]["model"]["runtime"] == "custom-runtime"
    assert [r.kind for r in resources].index("ServingRuntime") < [r.name for r in resources].index("custom")
    assert RUNTIME_SCHEMA.errors(runtime.body) == []
    assert findings(tmp_path, spec.replace('formats: ["acme-format:1"]', 'formats: ["other:1"]')) == \
        [("KF205", "error", ("spec", "serving", 3, "customRuntime", "formats"))]
    assert findings(tmp_path, spec.replace("      format: acme-format\n", "      format: acme-format\n"
                                           "      protocol: v1\n")) == \
        [("KF205", "error", ("spec", "serving", 3, "protocol"))]


# ------------------------------------------------------------------ checks: KServe's selection and rules

def test_runtime_selection_replays_kserve() -> None:
    st = load_stack("kubeflow-latest")
    assert auto_runtime(st, "sklearn") == "kserve-sklearnserver"  # v1 default: mlserver speaks v2 only
    assert supporting(st, "sklearn", protocol="v2") == ["kserve-mlserver", "kserve-sklearnserver"]  # priority
    assert auto_runtime(st, "sklearn", "0") is None  # mlserver has sklearn:0 but only over v2
    assert auto_runtime(st, "sklearn", "0", "v2") == "kserve-mlserver"
    assert auto_runtime(st, "pytorch", "1") == "kserve-torchserve"
    assert auto_runtime(st, "pytorch", "2") is None  # exact version labels
    assert auto_runtime(st, "pytorch", "1", "grpc-v2") == "kserve-torchserve"  # triton's pytorch is manual
    assert auto_runtime(st, "huggingface") == "kserve-huggingfaceserver"  # the multi-node one needs workerSpec
    assert auto_runtime(st, "vLLM") == "kserve-vllmserver" and auto_runtime(st, "vllm") is None
    assert "kserve-predictiveserver" not in supporting(st, "sklearn", protocol="v2")  # not auto-selected


def test_checks(tmp_path: Path) -> None:
    versioned = SPEC.replace('version: "1"}}', 'version: "2"}}')
    assert findings(tmp_path, versioned) == [("KF305", "error", ("spec", "serving", 0, "model"))]
    assert findings(tmp_path, versioned.replace("      model: registry/churn\n",
                                                "      model: registry/churn\n      format: pytorch\n")) == []
    grpc = SPEC.replace("      protocol: v2\n", "      protocol: grpc-v2\n")
    assert findings(tmp_path, grpc) == [("KF305", "error", ("spec", "serving", 2, "format"))]
    explicit = SPEC.replace("      protocol: v2\n", "      protocol: v2\n      runtime: kserve-sklearnserver\n")
    assert findings(tmp_path, explicit) == [("KF305", "error", ("spec", "serving", 2, "runtime"))]
    manual = SPEC.replace("      format: xgboost\n", "      format: xgboost\n      runtime: kserve-predictiveserver\n")
    assert findings(tmp_path, manual) == []
    gpu = SPEC.replace("      explainer:", "      resources: {gpu: 1}\n      explainer:")
    assert findings(tmp_path, gpu) == [("KF203", "error", ("spec", "serving", 1, "resources", "gpu"))]
    zero = SPEC.replace("replicas: {min: 2, max: 6}", "replicas: {min: 0, max: 6}")
    assert findings(tmp_path, zero) == [("KF205", "error", ("spec", "serving", 0, "replicas"))]
    inverted = SPEC.replace("replicas: {min: 2, max: 6}", "replicas: {min: 7, max: 6}")
    assert findings(tmp_path, inverted) == [("KF104", "error", ("spec", "serving", 0, "replicas"))]
    rps = SPEC.replace("metric: cpu", "metric: rps")
    assert findings(tmp_path, rps) == [("KF205", "error", ("spec", "serving", 0, "autoscaling", "metric"))]
    over = SPEC.replace("target: 70", "target: 170")
    assert findings(tmp_path, over) == [("KF104", "error", ("spec", "serving", 0, "autoscaling", "target"))]
    standard_canary = SPEC.replace("      canary: {percent: 20}\n",
                                   "      canary: {percent: 20}\n      deploymentMode: Standard\n")
    assert findings(tmp_path, standard_canary, "kubeflow-26.03") == \
        [("KF305", "error", ("spec", "serving", 0, "canary"))]
    same_model = SPEC.replace("      replicas: {min: 1, max: 1}\n",
                              "      replicas: {min: 1, max: 1}\n      canary: {percent: 5}\n")
    p, _ = project(tmp_path, same_model)
    assert [(d.code, d.severity) for d in p.diagnostics] == [("KF205", Severity.WARNING)]


# ------------------------------------------------------------------ upstream schemas and rules

@pytest.mark.parametrize("stack", STACKS)
def test_valid_against_the_crds_and_webhook(tmp_path: Path, stack: str) -> None:
    p, st = project(tmp_path, stack=stack)
    resources = render(p, st)
    assert len(resources) == 3
    for r in resources:
        assert schema_errors(r, st) == [], r.id
        assert webhook_errors(r.body) == [], r.id


def test_the_016_schema_rejects_what_016_lacks(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    body = isvc(render(p, st), "churn")
    assert ISVC_SCHEMA["v0.20.0"].errors(body) == []
    assert any("canary" in e for e in ISVC_SCHEMA["v0.16.0"].errors(body))
    del body["spec"]["canary"][0]["predictor"]["model"]["name"]
    assert ISVC_SCHEMA["v0.20.0"].errors(body) == ["spec.canary.0.predictor.model: 'name' is a required property"]
    body["spec"]["predictor"]["model"]["name"] = "kserve-container"
    assert webhook_errors(body) == ["predictor.model: container name not allowed"]


@pytest.mark.parametrize("stack", ["kubeflow-latest", "local"])  # other stacks: see the SPEC tests above
@pytest.mark.parametrize(("example", "env"), [("churn", None), ("churn", "dev"), ("churn", "staging"),
                                              ("churn", "prod"), ("llm-finetune", None), ("llm-finetune", "dev"),
                                              ("llm-finetune", "prod")])
def test_examples(example: str, env: str | None, stack: str) -> None:
    p, st, _ = load_project(REPO / "examples" / example, env, stack)
    resources = render(p, st)
    assert resources
    for r in resources:
        assert schema_errors(r, st) == [], r.id
        assert webhook_errors(r.body) == [], r.id


# ------------------------------------------------------------------ health

def _isvc(status: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "m", "generation": 2, **meta}, "status": status}


@pytest.mark.parametrize(("obj", "state", "message"), [
    (_isvc({"observedGeneration": 2, "url": "http://m.team-a.example.com",
            "conditions": [{"type": "Ready", "status": "True"}]}), "Healthy", "http://m.team-a.example.com"),
    (_isvc({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}), "Progressing",
     "generation 2"),
    (_isvc({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "False",
                                                      "message": "0/1 replicas available"}]}),
     "Progressing", "0/1 replicas"),
    (_isvc({"observedGeneration": 2, "modelStatus": {"transitionStatus": "BlockedByFailedLoad",
                                                      "lastFailureInfo": {"message": "model not found"}},
            "conditions": [{"type": "Ready", "status": "False"}]}), "Degraded", "model not found"),
    (_isvc({"observedGeneration": 2, "conditions": [
        {"type": "PredictorReady", "status": "False", "reason": "RevisionFailed", "message": "image pull"},
        {"type": "Ready", "status": "False"}]}), "Degraded", "image pull"),
    (_isvc({}), "Progressing", "waiting"),
])
def test_health(obj: dict[str, Any], state: str, message: str) -> None:
    got = inference_service(obj)
    assert (got.state, message in got.message) == (state, True), got
    assert HEALTH["serving.kserve.io/InferenceService"] is inference_service
