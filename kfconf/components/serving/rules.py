"""KServe InferenceService and InferenceGraph: the rules of its validating webhook (pkg/apis/serving/v1beta1
validators), over the rendered object (KF402, kfconf.build.rules_webhook)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kfconf.build.rules_webhook import DNS1035_LABEL, Finding, Rule, RuleContext, get, name_rule
from kfconf.core.source import PathT, describe

PREDICTOR_IMPLS = ("model", "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "triton", "onnx", "pmml",
                   "paddle", "huggingface")
STORAGE_PREFIXES = ("gs://", "s3://", "pvc://", "file://", "https://", "http://", "hdfs://", "webhdfs://", "oci://",
                    "oci+native://", "hf://", "model-registry://", "/")
DEPLOYMENT_MODES = ("Standard", "Knative", "ModelMesh", "RawDeployment", "Serverless")


def _predictor(pred: Any, path: PathT, canary: bool) -> Iterator[Finding]:
    if not isinstance(pred, dict):
        yield path, "expected a predictor, got none"
        return
    impls = [k for k in PREDICTOR_IMPLS if k in pred] + (["containers"] if pred.get("containers") else [])
    if len(impls) != 1:
        yield path, f"expected exactly one predictor implementation ({', '.join(PREDICTOR_IMPLS)} or containers), " \
                    f"got {', '.join(impls) or 'none'}"
    for k in impls:
        if k != "containers" and isinstance(pred[k], dict):
            if "name" in pred[k] and not canary:  # a canary's model needs one (the CRD requires it)
                yield (*path, k, "name"), "not allowed in a standard predictor (set the predictor's name instead)"
            uri = pred[k].get("storageUri")
            if uri is not None and not str(uri).startswith(STORAGE_PREFIXES):
                yield (*path, k, "storageUri"), f"expected a supported storage URI " \
                                                f"({', '.join(p for p in STORAGE_PREFIXES if p != '/')}), got {uri!r}"
            if uri is not None and pred.get("storageUris"):
                yield (*path, "storageUris"), "expected storageUri or storageUris, not both"
    name = pred.get("name")
    if name is not None and not DNS1035_LABEL.match(str(name)):
        yield (*path, "name"), f"expected a DNS-1035 label, got {describe(name)}"
    lo, hi = pred.get("minReplicas"), pred.get("maxReplicas")
    if isinstance(lo, int) and lo < 0:
        yield (*path, "minReplicas"), f"expected ≥ 0, got {lo}"
    if isinstance(lo, int) and isinstance(hi, int) and hi != 0 and lo > hi:
        yield (*path, "maxReplicas"), f"expected ≥ minReplicas ({lo}), got {hi}"
    ctp = pred.get("canaryTrafficPercent")
    if isinstance(ctp, int) and not 0 <= ctp <= 100:
        yield (*path, "canaryTrafficPercent"), f"expected 0–100, got {ctp}"
    if pred.get("scaleMetric") == "cpu" and pred.get("scaleMetricType") in (None, "Utilization"):
        t = pred.get("scaleTarget")
        if isinstance(t, int) and not 1 <= t <= 100:
            yield (*path, "scaleTarget"), f"expected a CPU utilization of 1–100, got {t}"
    if canary:
        for k in ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling", "workerSpec"):
            if k in pred:
                yield (*path, k), "not allowed in a canary predictor (canaries have fixed replicas)"
        if not name:
            yield (*path, "name"), "expected a name for a canary predictor, got none"


def kserve_isvc(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from name_rule(get(body, "metadata", "name"), DNS1035_LABEL, 253, "DNS-1035 name")
    mode = get(body, "metadata", "annotations", "serving.kserve.io/deploymentMode")
    if mode is not None and mode not in DEPLOYMENT_MODES:
        yield ("metadata", "annotations", "serving.kserve.io/deploymentMode"), \
            f"expected one of {', '.join(DEPLOYMENT_MODES)}, got {describe(mode)}"
    spec = body.get("spec") or {}
    pred = spec.get("predictor")
    yield from _predictor(pred, ("spec", "predictor"), canary=False)
    canaries = spec.get("canary") or []
    total = 0
    names = {get(pred, "name")} - {None}
    for i, c in enumerate(canaries):
        path: PathT = ("spec", "canary", i)
        cp = get(c, "predictor")
        yield from _predictor(cp, (*path, "predictor"), canary=True)
        tp = get(c, "trafficPercent")
        if isinstance(tp, int):
            total += tp
            if not 0 <= tp <= 100:
                yield (*path, "trafficPercent"), f"expected 0–100, got {tp}"
        n = get(cp, "name")
        if n in names:
            yield (*path, "predictor", "name"), f"expected a name unlike the other predictors', got {n!r} again"
        names.add(n)
        cmin, smin = get(cp, "minReplicas"), get(pred, "minReplicas")
        if isinstance(cmin, int) and cmin > (smin if isinstance(smin, int) else 1):
            yield (*path, "predictor", "minReplicas"), f"expected ≤ the stable predictor's minReplicas, got {cmin}"
    if total > 100:
        yield ("spec", "canary"), f"expected trafficPercent to sum to at most 100, got {total}"
    if canaries and mode not in (None, "Standard", "RawDeployment"):
        yield ("spec", "canary"), f"expected the Standard deployment mode for canary[], got {mode}"
    if get(spec, "transformer") is not None:
        for k in PREDICTOR_IMPLS:
            if get(spec, "transformer", k) is not None:
                yield ("spec", "transformer", k), "a transformer has custom containers only"


def kserve_graph(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from name_rule(get(body, "metadata", "name"), DNS1035_LABEL, 253, "DNS-1035 name")
    nodes = get(body, "spec", "nodes") or {}
    if "root" not in nodes:
        yield ("spec", "nodes"), "expected a node named 'root'"
    for n, node in sorted(nodes.items()):
        steps = get(node, "steps") or []
        seen: set[Any] = set()
        weights = 0
        for i, s in enumerate(steps):
            path: PathT = ("spec", "nodes", n, "steps", i)
            targets = [k for k in ("nodeName", "serviceName", "serviceUrl") if get(s, k)]
            if len(targets) != 1:
                yield path, "expected exactly one of nodeName, serviceName, serviceUrl, got " \
                            f"{', '.join(targets) or 'none'}"
            sn = get(s, "name")
            if sn is not None and sn in seen:
                yield (*path, "name"), f"expected unique step names, got {sn!r} twice"
            seen.add(sn)
            w = get(s, "weight")
            weights += w if isinstance(w, int) else 0
        if get(node, "routerType") == "Splitter" and weights != 100:
            yield ("spec", "nodes", n), f"expected Splitter weights to sum to 100, got {weights}"
RULES: dict[str, Rule] = {
    "serving.kserve.io/InferenceService": kserve_isvc,
    "serving.kserve.io/InferenceGraph": kserve_graph,
}
