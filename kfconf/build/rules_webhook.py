"""Upstream rules that no schema carries: admission webhooks, API-server object validation.

Each rule paraphrases an upstream validator named in shared/notes/kubeflow-apis.md (the file is
named beside each group below); none is a copy of upstream code. A rule yields (field path,
message) for one object; `check(resource, ctx)` runs the rules of its kind plus the object-meta
rules every kind shares. Covered: Katib Experiment (name ≤ 40, objective, algorithm and its
settings, counts, parameters, trial template and placeholders, metrics collector), KServe
InferenceService (one predictor implementation, names, storage, replicas, canary) and
InferenceGraph, Trainer TrainJob (reserved env, runtime patches, runtime and initializers),
KFP PipelineVersion (IR parses strictly, pipelineInfo.name, pipeline exists), Spark
(names, sparkConf keys, nodeSelector, pod template version, schedule, time zone), ScheduledWorkflow
and CronJob schedules, and Kubernetes names, labels and annotations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kfconf.core.resource import Resource
from kfconf.core.source import PathT, describe
from kfconf.spec.stacks import Stack

Finding = tuple[PathT, str]
Rule = Callable[[dict[str, Any], "RuleContext"], Iterable[Finding]]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass
class RuleContext:
    stack: Stack
    resources: Sequence[Resource] = ()
    names: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(kind, namespace) → names of the objects in this build."""

    @classmethod
    def of(cls, stack: Stack, resources: Sequence[Resource]) -> RuleContext:
        names: dict[tuple[str, str], set[str]] = {}
        for r in resources:
            names.setdefault((r.kind, r.namespace or ""), set()).add(r.name)
        return cls(stack, resources, names)


def _get(obj: Any, *path: str | int) -> Any:
    for p in path:
        if isinstance(obj, dict) and isinstance(p, str):
            obj = obj.get(p)
        elif isinstance(obj, list) and isinstance(p, int) and -len(obj) <= p < len(obj):
            obj = obj[p]
        else:
            return None
    return obj


def _name_rule(name: Any, pattern: re.Pattern[str], limit: int, what: str) -> Iterator[Finding]:
    if not isinstance(name, str) or not name:
        yield ("metadata", "name"), "expected a name, got none"
        return
    if len(name) > limit:
        yield ("metadata", "name"), f"expected at most {limit} characters ({what}), got {len(name)}: {name!r}"
    if not pattern.match(name):
        yield ("metadata", "name"), f"expected a {what} ({pattern.pattern}), got {name!r}"


# ---------------------------------------------------------------- Kubernetes object meta (API server)

LABEL_NAME_KINDS = frozenset({"Namespace", "Profile"})
DNS1035_KINDS = frozenset({"Service"})
PATH_SEGMENT_KINDS = frozenset({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})


@lru_cache(maxsize=4096)
def _qualified_key(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"prefix {prefix!r} is not a DNS subdomain"
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        return "name part must be ≤ 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric"
    return None


@lru_cache(maxsize=4096)
def _label_value_ok(v: str) -> bool:
    return len(v) <= 63 and LABEL_VALUE.match(v) is not None


def object_meta(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    kind = str(body.get("kind", ""))
    meta = body.get("metadata") or {}
    name = meta.get("name")
    if kind in PATH_SEGMENT_KINDS:
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "%" in name:
            yield ("metadata", "name"), f"expected a name without '/' or '%', got {describe(name)}"
    elif kind in LABEL_NAME_KINDS:
        yield from _name_rule(name, DNS1123_LABEL, 63, "DNS-1123 label")
    elif kind in DNS1035_KINDS:
        yield from _name_rule(name, DNS1035_LABEL, 63, "DNS-1035 label")
    else:
        yield from _name_rule(name, DNS1123_SUBDOMAIN, 253, "DNS-1123 subdomain")
    ns = meta.get("namespace")
    if ns is not None and (not isinstance(ns, str) or len(ns) > 63 or not DNS1123_LABEL.match(ns)):
        yield ("metadata", "namespace"), f"expected a DNS-1123 label, got {describe(ns)}"
    for k, v in sorted((meta.get("labels") or {}).items()):
        why = _qualified_key(str(k))
        if why:
            yield ("metadata", "labels", k), f"invalid label key: {why}"
        if not (isinstance(v, str) and _label_value_ok(v)):
            yield ("metadata", "labels", k), f"expected a label value (≤ 63 alphanumeric characters, '-', '_' or " \
                                             f"'.', starting and ending alphanumeric), got {describe(v)}"
    total = 0
    for k, v in sorted((meta.get("annotations") or {}).items()):
        why = _qualified_key(str(k))
        if why:
            yield ("metadata", "annotations", k), f"invalid annotation key: {why}"
        total += len(str(k)) + len(str(v))
    if total > 256 * 1024:
        yield ("metadata", "annotations"), f"expected annotations of at most 256 KiB in total, got {total} bytes"


# ---------------------------------------------------------------- Katib (pkg/webhook/v1beta1/experiment/validator)

KATIB_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "random": ("random_state",),
    "tpe": ("gamma", "prior_weight", "n_EI_candidates", "random_state"),
    "grid": ("random_state",),
    "multivariate-tpe": ("n_startup_trials", "n_ei_candidates", "random_state"),
    "bayesianoptimization": ("base_estimator", "n_initial_points", "acq_func", "acq_optimizer", "random_state"),
    "cmaes": ("random_state", "sigma", "restart_strategy"),
    "sobol": (),
    "hyperband": ("resource_name", "r_l", "eta"),
    "pbt": ("suggestion_trial_dir", "n_population", "truncation_threshold", "resample_probability"),
    "enas": ("controller_hidden_size", "controller_temperature", "controller_tanh_const",
             "controller_entropy_weight", "controller_baseline_decay", "controller_learning_rate",
             "controller_skip_target", "controller_skip_weight", "controller_train_steps",
             "controller_log_every_steps"),
    "darts": ("num_epochs", "w_lr", "w_lr_min", "w_momentum", "w_weight_decay", "w_grad_clip", "alpha_lr",
              "alpha_weight_decay", "batch_size", "num_workers", "init_channels", "print_step", "num_nodes",
              "stem_multiplier"),
}
KATIB_EARLY_STOPPING: dict[str, tuple[str, ...]] = {"medianstop": ("min_trials_required", "start_step")}
KATIB_TRIAL_RESOURCES = {("trainer.kubeflow.org", "TrainJob"), ("batch", "Job"), ("kubeflow.org", "TFJob"),
                         ("kubeflow.org", "PyTorchJob"), ("kubeflow.org", "MPIJob"), ("kubeflow.org", "XGBoostJob")}
TRIAL_META_REFS = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels\[.+\]|Annotations\[.+\])\}$")
KATIB_COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]+)\}")


def _number(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _katib_setting(algo: str, name: str, value: Any) -> str | None:
    """The suggestion services' checks of settings whose bounds the notes list."""
    x = _number(value)
    bounds: dict[tuple[str, str], tuple[Callable[[float], bool], str]] = {
        ("tpe", "gamma"): (lambda v: 0 < v < 1, "0 < gamma < 1"),
        ("tpe", "prior_weight"): (lambda v: v > 0, "> 0"),
        ("random", "random_state"): (lambda v: v >= 0, "≥ 0"),
        ("multivariate-tpe", "n_startup_trials"): (lambda v: v >= 0, "≥ 0"),
        ("multivariate-tpe", "n_ei_candidates"): (lambda v: v >= 0, "≥ 0"),
        ("bayesianoptimization", "n_initial_points"): (lambda v: v >= 0, "≥ 0"),
        ("hyperband", "r_l"): (lambda v: v > 0, "> 0"),
        ("hyperband", "eta"): (lambda v: v > 0, "> 0"),
        ("pbt", "n_population"): (lambda v: v >= 5, "≥ 5"),
        ("pbt", "truncation_threshold"): (lambda v: 0 <= v <= 1, "between 0 and 1"),
        ("medianstop", "min_trials_required"): (lambda v: v > 0, "> 0"),
        ("medianstop", "start_step"): (lambda v: v >= 1, "≥ 1"),
    }
    choices = {("bayesianoptimization", "base_estimator"): ("GP", "RF", "ET", "GBRT"),
               ("bayesianoptimization", "acq_func"): ("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
               ("bayesianoptimization", "acq_optimizer"): ("auto", "sampling", "lbfgs"),
               ("cmaes", "restart_strategy"): ("ipop", "bipop", "none")}
    if (algo, name) in choices and value not in choices[(algo, name)]:
        return f"expected one of {', '.join(choices[(algo, name)])}, got {describe(value)}"
    if (algo, name) in bounds:
        ok, text = bounds[(algo, name)]
        if x is None or not ok(x):
            return f"expected a number {text}, got {describe(value)}"
    return None


def _settings(spec: Any, table: dict[str, tuple[str, ...]], path: PathT) -> Iterator[Finding]:
    algo = _get(spec, "algorithmName")
    if not isinstance(algo, str) or not algo:
        yield (*path, "algorithmName"), "expected an algorithm name, got none"
        return
    if algo not in table:
        yield (*path, "algorithmName"), f"expected one of {', '.join(sorted(table))}, got {algo!r}"
        return
    for i, s in enumerate(_get(spec, "algorithmSettings") or []):
        n = _get(s, "name")
        if n not in table[algo]:
            known = ", ".join(table[algo]) or "none"
            yield (*path, "algorithmSettings", i, "name"), f"expected a setting of {algo} ({known}), got {describe(n)}"
            continue
        why = _katib_setting(algo, str(n), _get(s, "value"))
        if why:
            yield (*path, "algorithmSettings", i, "value"), f"{algo} setting {n}: {why}"


def katib_experiment(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    limit = int(ctx.stack.component("katib").get("nameLimit", 40))
    yield from _name_rule(_get(body, "metadata", "name"), DNS1035_LABEL, limit, "Katib experiment name")
    spec = body.get("spec") or {}
    obj = spec.get("objective")
    if not isinstance(obj, dict):
        yield ("spec", "objective"), "expected an objective, got none"
    else:
        if obj.get("type") not in ("minimize", "maximize"):
            yield ("spec", "objective", "type"), f"expected minimize or maximize, got {describe(obj.get('type'))}"
        name = obj.get("objectiveMetricName")
        if not name:
            yield ("spec", "objective", "objectiveMetricName"), "expected a metric name, got none"
        if name and name in (obj.get("additionalMetricNames") or []):
            yield ("spec", "objective", "additionalMetricNames"), f"must not contain the objective metric {name!r}"
    yield from _settings(spec.get("algorithm"), KATIB_ALGORITHMS, ("spec", "algorithm"))
    if spec.get("earlyStopping") is not None:
        yield from _settings(spec["earlyStopping"], KATIB_EARLY_STOPPING, ("spec", "earlyStopping"))
    counts = {k: spec[k] for k in ("parallelTrialCount", "maxTrialCount", "maxFailedTrialCount")
              if isinstance(spec.get(k), int)}
    for k, low in (("parallelTrialCount", 1), ("maxTrialCount", 1), ("maxFailedTrialCount", 0)):
        if k in counts and counts[k] < low:
            yield ("spec", k), f"expected {'> 0' if low else '≥ 0'}, got {counts[k]}"
    mx = counts.get("maxTrialCount")
    if mx is not None:
        for k in ("parallelTrialCount", "maxFailedTrialCount"):
            if k in counts and counts[k] > mx:
                yield ("spec", k), f"expected ≤ maxTrialCount ({mx}), got {counts[k]}"
    if spec.get("resumePolicy") not in (None, "", "Never", "LongRunning", "FromVolume"):
        yield ("spec", "resumePolicy"), \
            f"expected Never, LongRunning or FromVolume, got {describe(spec['resumePolicy'])}"
    params = spec.get("parameters") or []
    if bool(params) == bool(spec.get("nasConfig")):
        yield ("spec",), "expected exactly one of parameters and nasConfig"
    names = set()
    for i, p in enumerate(params):
        yield from _katib_parameter(p, ("spec", "parameters", i))
        names.add(_get(p, "name"))
    yield from _trial_template(spec.get("trialTemplate"), names, ctx)
    yield from _collector(spec.get("metricsCollectorSpec"))


def _katib_parameter(p: Any, path: PathT) -> Iterator[Finding]:
    t = _get(p, "parameterType")
    fs = _get(p, "feasibleSpace") or {}
    if not any(fs.get(k) not in (None, "", []) for k in ("min", "max", "step", "list", "distribution")):
        yield (*path, "feasibleSpace"), "expected a feasible space, got none"
    elif t in ("int", "double"):
        if fs.get("min") in (None, "") and fs.get("max") in (None, ""):
            yield (*path, "feasibleSpace", "max"), f"expected min or max for a {t} parameter, got neither"
        if fs.get("list"):
            yield (*path, "feasibleSpace", "list"), f"expected no list for a {t} parameter"
    elif t in ("discrete", "categorical"):
        for k in ("min", "max", "step"):
            if fs.get(k) not in (None, ""):
                yield (*path, "feasibleSpace", k), f"expected no {k} for a {t} parameter"
    if t not in (None, "", "int", "double", "discrete", "categorical"):
        yield (*path, "parameterType"), f"expected int, double, discrete or categorical, got {describe(t)}"
    if fs.get("distribution") not in (None, "", "uniform", "logUniform", "normal", "logNormal"):
        yield (*path, "feasibleSpace", "distribution"), \
            f"expected uniform, logUniform, normal or logNormal, got {describe(fs['distribution'])}"


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _trial_template(tt: Any, params: set[Any], ctx: RuleContext) -> Iterator[Finding]:
    path: PathT = ("spec", "trialTemplate")
    if not isinstance(tt, dict):
        yield path, "expected a trial template, got none"
        return
    if not tt.get("primaryContainerName"):
        yield (*path, "primaryContainerName"), "expected the name of the trial's primary container, got none"
    spec, cm = tt.get("trialSpec"), tt.get("configMap")
    if (spec is None) == (cm is None):
        yield path, "expected exactly one of trialSpec and configMap"
    declared: set[Any] = set()
    refs: set[Any] = set()
    for i, tp in enumerate(tt.get("trialParameters") or []):
        name, ref = _get(tp, "name"), _get(tp, "reference")
        if not name or not ref or "{" in str(name) or "}" in str(name):
            yield (*path, "trialParameters", i), "expected a name (without '{' or '}') and a reference"
            continue
        if name in declared or ref in refs:
            what, value = ("name", name) if name in declared else ("reference", ref)
            yield (*path, "trialParameters", i, what), f"expected unique trial parameter {what}s, got {value!r} again"
            continue
        declared.add(name)
        refs.add(ref)
        # an experiment without parameters (NAS) references its NAS settings instead
        if params and ref not in params and not (isinstance(ref, str) and TRIAL_META_REFS.match(ref)):
            yield (*path, "trialParameters", i, "reference"), \
                f"expected a parameter name or a ${{trialSpec.…}} reference, got {describe(ref)}"
    if not isinstance(spec, dict):
        return
    meta = spec.get("metadata") or {}
    for k in ("name", "namespace"):
        if k in meta:
            yield (*path, "trialSpec", "metadata", k), f"must not be set: Katib sets the trial's {k}"
    group = str(spec.get("apiVersion", "")).rpartition("/")[0]
    if (group, spec.get("kind")) not in KATIB_TRIAL_RESOURCES:
        yield (*path, "trialSpec", "kind"), f"expected a kind Katib can run as a trial (TrainJob, Job, PyTorchJob, " \
                                            f"…), got {describe(spec.get('kind'))} {describe(spec.get('apiVersion'))}"
    used = {m for s in _strings(spec) for m in PLACEHOLDER.findall(s)}
    for name in sorted(used - declared):
        yield (*path, "trialSpec"), f"uses ${{trialParameters.{name}}}, which trialParameters does not declare"
    for name in sorted(n for n in declared - used if isinstance(n, str)):
        yield (*path, "trialParameters"), f"declares {name!r}, which the trialSpec never uses"


def _collector(mc: Any) -> Iterator[Finding]:
    if not isinstance(mc, dict):
        return
    path: PathT = ("spec", "metricsCollectorSpec")
    kind = _get(mc, "collector", "kind") or "StdOut"
    if kind not in KATIB_COLLECTORS:
        yield (*path, "collector", "kind"), f"expected one of {', '.join(KATIB_COLLECTORS)}, got {describe(kind)}"
    fsp = _get(mc, "source", "fileSystemPath") or {}
    if kind == "File":
        p = fsp.get("path")
        if p is not None and not str(p).startswith("/"):
            yield (*path, "source", "fileSystemPath", "path"), f"expected an absolute path, got {describe(p)}"
        if fsp.get("kind") not in (None, "File"):
            yield (*path, "source", "fileSystemPath", "kind"), f"expected File, got {describe(fsp.get('kind'))}"
        if fsp.get("format") == "JSON" and _get(mc, "source", "filter") is not None:
            yield (*path, "source", "filter"), "expected no filter with the JSON format"
    elif kind == "TensorFlowEvent":
        if fsp.get("kind") not in (None, "Directory"):
            yield (*path, "source", "fileSystemPath", "kind"), f"expected Directory, got {describe(fsp.get('kind'))}"
        if fsp.get("format"):
            yield (*path, "source", "fileSystemPath", "format"), "expected no format for TensorFlowEvent"
    elif kind == "PrometheusMetric":
        hg = _get(mc, "source", "httpGet") or {}
        port = hg.get("port")
        if isinstance(port, int) and port <= 0:
            yield (*path, "source", "httpGet", "port"), f"expected a port > 0, got {port}"
        if hg.get("path") is not None and not str(hg["path"]).startswith("/"):
            yield (*path, "source", "httpGet", "path"), f"expected a path starting with '/', got {describe(hg['path'])}"
    for i, f in enumerate(_get(mc, "source", "filter", "metricsFormat") or []):
        try:
            groups = re.compile(str(f)).groups
        except re.error as e:
            yield (*path, "source", "filter", "metricsFormat", i), f"expected a regular expression, got {f!r} ({e})"
            continue
        if groups < 2:
            yield (*path, "source", "filter", "metricsFormat", i), \
                f"expected a regular expression with two groups (metric name, value), got {groups}"


# ---------------------------------------------------------------- KServe (pkg/apis/serving/v1beta1 validators)

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
    yield from _name_rule(_get(body, "metadata", "name"), DNS1035_LABEL, 253, "DNS-1035 name")
    mode = _get(body, "metadata", "annotations", "serving.kserve.io/deploymentMode")
    if mode is not None and mode not in DEPLOYMENT_MODES:
        yield ("metadata", "annotations", "serving.kserve.io/deploymentMode"), \
            f"expected one of {', '.join(DEPLOYMENT_MODES)}, got {describe(mode)}"
    spec = body.get("spec") or {}
    pred = spec.get("predictor")
    yield from _predictor(pred, ("spec", "predictor"), canary=False)
    canaries = spec.get("canary") or []
    total = 0
    names = {_get(pred, "name")} - {None}
    for i, c in enumerate(canaries):
        path: PathT = ("spec", "canary", i)
        cp = _get(c, "predictor")
        yield from _predictor(cp, (*path, "predictor"), canary=True)
        tp = _get(c, "trafficPercent")
        if isinstance(tp, int):
            total += tp
            if not 0 <= tp <= 100:
                yield (*path, "trafficPercent"), f"expected 0–100, got {tp}"
        n = _get(cp, "name")
        if n in names:
            yield (*path, "predictor", "name"), f"expected a name unlike the other predictors', got {n!r} again"
        names.add(n)
        cmin, smin = _get(cp, "minReplicas"), _get(pred, "minReplicas")
        if isinstance(cmin, int) and cmin > (smin if isinstance(smin, int) else 1):
            yield (*path, "predictor", "minReplicas"), f"expected ≤ the stable predictor's minReplicas, got {cmin}"
    if total > 100:
        yield ("spec", "canary"), f"expected trafficPercent to sum to at most 100, got {total}"
    if canaries and mode not in (None, "Standard", "RawDeployment"):
        yield ("spec", "canary"), f"expected the Standard deployment mode for canary[], got {mode}"
    if _get(spec, "transformer") is not None:
        for k in PREDICTOR_IMPLS:
            if _get(spec, "transformer", k) is not None:
                yield ("spec", "transformer", k), "a transformer has custom containers only"


def kserve_graph(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from _name_rule(_get(body, "metadata", "name"), DNS1035_LABEL, 253, "DNS-1035 name")
    nodes = _get(body, "spec", "nodes") or {}
    if "root" not in nodes:
        yield ("spec", "nodes"), "expected a node named 'root'"
    for n, node in sorted(nodes.items()):
        steps = _get(node, "steps") or []
        seen: set[Any] = set()
        weights = 0
        for i, s in enumerate(steps):
            path: PathT = ("spec", "nodes", n, "steps", i)
            targets = [k for k in ("nodeName", "serviceName", "serviceUrl") if _get(s, k)]
            if len(targets) != 1:
                yield path, "expected exactly one of nodeName, serviceName, serviceUrl, got " \
                            f"{', '.join(targets) or 'none'}"
            sn = _get(s, "name")
            if sn is not None and sn in seen:
                yield (*path, "name"), f"expected unique step names, got {sn!r} twice"
            seen.add(sn)
            w = _get(s, "weight")
            weights += w if isinstance(w, int) else 0
        if _get(node, "routerType") == "Splitter" and weights != 100:
            yield ("spec", "nodes", n), f"expected Splitter weights to sum to 100, got {weights}"


# ---------------------------------------------------------------- Trainer (pkg/runtime/framework/plugins)

RESERVED_ENV = {
    "torch": ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"),
    "mpi": ("OMPI_MCA_orte_default_hostfile", "OMPI_MCA_plm_rsh_args", "OMPI_MCA_orte_keep_fqdn_hostnames",
            "OMPI_MCA_orte_set_default_slots"),
    "xgboost": ("DMLC_TRACKER_URI", "DMLC_TRACKER_PORT", "DMLC_TASK_ID", "DMLC_NUM_WORKER"),
}
FRAMEWORK_POLICY = {"torch": "torch", "torchtune": "torch", "deepspeed": "mpi", "mlx": "mpi", "xgboost": "xgboost"}
NO_ENV_CONTAINERS = ("node", "dataset-initializer", "model-initializer")
MANAGER = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/[^/]+")


def trainjob(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    spec = body.get("spec") or {}
    ns = _get(body, "metadata", "namespace") or ""
    ref = spec.get("runtimeRef") or {}
    rname, rkind = ref.get("name"), ref.get("kind", "ClusterTrainingRuntime")
    runtime = ctx.stack.runtime("training", str(rname)) if rkind == "ClusterTrainingRuntime" else None
    local = rname in ctx.names.get((str(rkind), ns if rkind == "TrainingRuntime" else ""), set())
    if rkind == "ClusterTrainingRuntime" and runtime is None and not local:
        known = ", ".join(sorted(ctx.stack.runtimes.get("training", {}))) or "none"
        yield ("spec", "runtimeRef", "name"), f"expected a ClusterTrainingRuntime of stack {ctx.stack.name} " \
                                              f"({known}), got {describe(rname)}"
    if rkind == "TrainingRuntime" and not local:
        yield ("spec", "runtimeRef", "name"), f"expected a TrainingRuntime {rname!r} in namespace {ns!r} in this build"
    framework = str((runtime or {}).get("framework", ""))
    policies = [FRAMEWORK_POLICY[framework]] if framework in FRAMEWORK_POLICY else list(RESERVED_ENV)
    reserved = {n: p for p in policies for n in RESERVED_ENV[p]}
    for i, e in enumerate(_get(spec, "trainer", "env") or []):
        n = _get(e, "name")
        if n in reserved:
            yield ("spec", "trainer", "env", i, "name"), f"{n} is set by the Trainer's {reserved[n]} plugin; " \
                                                         "it must not be set by the job"
    if runtime is not None:
        for k in ("dataset", "model"):
            has = runtime.get(f"{k}Initializer", runtime.get("initializers", False))
            if _get(spec, "initializer", k) is not None and not has:
                yield ("spec", "initializer", k), f"runtime {rname} of stack {ctx.stack.name} has no " \
                                                  f"{k}-initializer job (with a container of that name)"
    for i, patch in enumerate(spec.get("runtimePatches") or []):
        path: PathT = ("spec", "runtimePatches", i)
        m = _get(patch, "manager")
        if not isinstance(m, str) or not MANAGER.match(m):
            yield (*path, "manager"), f"expected a domain-prefixed path such as example.com/tool, got {describe(m)}"
        jobs = _get(patch, "trainingRuntimeSpec", "template", "spec", "replicatedJobs") or []
        for j, job in enumerate(jobs):
            pod = _get(job, "template", "spec", "template", "spec") or {}
            for ck in ("containers", "initContainers"):
                for c, cont in enumerate(pod.get(ck) or []):
                    if _get(cont, "name") in NO_ENV_CONTAINERS and _get(cont, "env") is not None:
                        yield ((*path, "trainingRuntimeSpec", "template", "spec", "replicatedJobs", j, "template",
                                "spec", "template", "spec", ck, c, "env"),
                               f"env must not be patched on container {cont['name']!r}; use spec.trainer.env")


# ---------------------------------------------------------------- KFP (backend/src/apiserver/webhook)

PIPELINE_INFO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


def _proto_errors(value: Any, message: str) -> str | None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        json_format.ParseDict(value, getattr(pipeline_spec_pb2, message)())
    except (json_format.ParseError, TypeError, ValueError) as e:
        return str(e).splitlines()[0]
    return None


def pipeline_version(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    spec = body.get("spec") or {}
    ns = _get(body, "metadata", "namespace") or ""
    pname = spec.get("pipelineName")
    if pname is not None and pname not in ctx.names.get(("Pipeline", ns), set()):
        yield ("spec", "pipelineName"), f"expected a Pipeline {pname!r} in namespace {ns!r} in this build"
    ir = spec.get("pipelineSpec")
    if isinstance(ir, dict):
        err = _proto_errors(ir, "PipelineSpec")
        if err:
            yield ("spec", "pipelineSpec"), f"expected a pipeline IR the KFP API can parse, got: {err}"
        name = _get(ir, "pipelineInfo", "name")
        if not isinstance(name, str) or not PIPELINE_INFO_NAME.match(name):
            yield ("spec", "pipelineSpec", "pipelineInfo", "name"), \
                f"expected {PIPELINE_INFO_NAME.pattern}, got {describe(name)}"
    plat = spec.get("platformSpec")
    if isinstance(plat, dict):
        err = _proto_errors(plat, "PlatformSpec")
        if err:
            yield ("spec", "platformSpec"), f"expected a platform spec the KFP API can parse, got: {err}"
    vn = spec.get("versionName")
    if vn is not None and (len(str(vn)) > 253 or not re.match(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", str(vn))):
        yield ("spec", "versionName"), f"expected a DNS-1123 subdomain, got {describe(vn)}"


def _cron_fields(expr: Any, n: int, path: PathT, what: str) -> Iterator[Finding]:
    if not isinstance(expr, str):
        return
    if expr.startswith("@"):
        if expr.split()[0] not in ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
                                   "@every"):
            yield path, f"expected a cron descriptor such as @daily or @every 5m, got {expr!r}"
        return
    if len(expr.split()) != n:
        yield path, f"expected a {what} cron expression of {n} fields, got {len(expr.split())}: {expr!r}"


def scheduled_workflow(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    cron = _get(body, "spec", "trigger", "cronSchedule", "cron")
    yield from _cron_fields(cron, 6, ("spec", "trigger", "cronSchedule", "cron"), "KFP (seconds first)")
    mc = _get(body, "spec", "maxConcurrency")
    if isinstance(mc, int) and not 1 <= mc <= 10:
        yield ("spec", "maxConcurrency"), f"expected 1–10, got {mc}"


def _time_zone(tz: Any, path: PathT) -> Iterator[Finding]:
    if tz is None or tz == "Local":
        return
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        yield path, f"expected an IANA time zone name, got {describe(tz)}"


# ---------------------------------------------------------------- Spark (internal/webhook)

FORBIDDEN_SPARK_CONF = ("spark.master", "spark.kubernetes.driver.master", "spark.kubernetes.container.image",
                        "spark.kubernetes.driver.container.image", "spark.kubernetes.executor.container.image")
FORBIDDEN_SPARK_PREFIXES = ("spark.kubernetes.authenticate.",)


def _spark_spec(spec: Any, ns: str, path: PathT) -> Iterator[Finding]:
    if not isinstance(spec, dict):
        return
    for k, v in sorted((spec.get("sparkConf") or {}).items()):
        if k in FORBIDDEN_SPARK_CONF or k.startswith(FORBIDDEN_SPARK_PREFIXES):
            yield (*path, "sparkConf", k), "is set by the Spark operator and must not be in sparkConf"
        if k == "spark.kubernetes.namespace" and v != ns:
            yield (*path, "sparkConf", k), f"expected the application's namespace {ns!r}, got {describe(v)}"
    if spec.get("nodeSelector") and (_get(spec, "driver", "nodeSelector") or _get(spec, "executor", "nodeSelector")):
        yield (*path, "nodeSelector"), "expected nodeSelector on the application or on driver/executor, not both"
    if _get(spec, "driver", "template") is not None or _get(spec, "executor", "template") is not None:
        version = str(spec.get("sparkVersion", ""))
        major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
        if major < 3:
            yield (*path, "sparkVersion"), f"pod templates need Spark ≥ 3.0.0, got {describe(spec.get('sparkVersion'))}"


def spark_application(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from _name_rule(_get(body, "metadata", "name"), DNS1035_LABEL, 63, "DNS-1035 label")
    yield from _spark_spec(body.get("spec"), _get(body, "metadata", "namespace") or "", ("spec",))


def scheduled_spark_application(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from _name_rule(_get(body, "metadata", "name"), DNS1035_LABEL, 63, "DNS-1035 label")
    spec = body.get("spec") or {}
    yield from _cron_fields(spec.get("schedule"), 5, ("spec", "schedule"), "standard")
    yield from _time_zone(spec.get("timeZone"), ("spec", "timeZone"))
    yield from _spark_spec(spec.get("template"), _get(body, "metadata", "namespace") or "", ("spec", "template"))


def cronjob(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from _name_rule(_get(body, "metadata", "name"), DNS1123_SUBDOMAIN, 52, "CronJob name")
    yield from _cron_fields(_get(body, "spec", "schedule"), 5, ("spec", "schedule"), "standard")
    yield from _time_zone(_get(body, "spec", "timeZone"), ("spec", "timeZone"))


RULES: dict[str, Rule] = {
    "kubeflow.org/Experiment": katib_experiment,
    "serving.kserve.io/InferenceService": kserve_isvc,
    "serving.kserve.io/InferenceGraph": kserve_graph,
    "trainer.kubeflow.org/TrainJob": trainjob,
    "pipelines.kubeflow.org/PipelineVersion": pipeline_version,
    "kubeflow.org/ScheduledWorkflow": scheduled_workflow,
    "sparkoperator.k8s.io/SparkApplication": spark_application,
    "sparkoperator.k8s.io/ScheduledSparkApplication": scheduled_spark_application,
    "batch/CronJob": cronjob,
}


def check(r: Resource, ctx: RuleContext, body: dict[str, Any] | None = None) -> list[Finding]:
    """Every upstream-rule finding of one object (its own kind's rules and the shared object-meta rules)."""
    b = r.body if body is None else body
    out = list(object_meta(b, ctx))
    rule = RULES.get(f"{r.group}/{r.kind}")
    if rule is not None:
        out.extend(rule(b, ctx))
    seen: set[Finding] = set()
    return [f for f in out if not (f in seen or seen.add(f))]  # type: ignore[func-returns-value]
