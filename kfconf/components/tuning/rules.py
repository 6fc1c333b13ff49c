"""The Katib experiment webhook's rules (pkg/webhook/v1beta1/experiment/validator/validator.go) and the
suggestion services' checks of their settings, over a rendered Experiment.

Katib's CRD is schemaless, so the API server accepts anything and only the webhook and the defaulter stand
between a typo and a stuck Experiment. This paraphrase runs twice: when an Experiment is rendered (so a
build without the output check still refuses it) and in the output check (KF402, via `RULES`). The
semantic checks in `checks.py` report the same problems earlier, on the spec line, where they can.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from kfconf.build.rules_webhook import DNS1035_LABEL, Finding, Rule, RuleContext, get, name_rule
from kfconf.core.errors import Diagnostic
from kfconf.core.resource import Resource
from kfconf.core.source import PathT, describe, fmt_path
from kfconf.spec.stacks import Stack

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
    algo = get(spec, "algorithmName")
    if not isinstance(algo, str) or not algo:
        yield (*path, "algorithmName"), "expected an algorithm name, got none"
        return
    if algo not in table:
        yield (*path, "algorithmName"), f"expected one of {', '.join(sorted(table))}, got {algo!r}"
        return
    for i, s in enumerate(get(spec, "algorithmSettings") or []):
        n = get(s, "name")
        if not isinstance(get(s, "value"), str):  # the API's settings are strings
            yield (*path, "algorithmSettings", i, "value"), f"expected a string, got {describe(get(s, 'value'))}"
        if n not in table[algo]:
            known = ", ".join(table[algo]) or "none"
            yield (*path, "algorithmSettings", i, "name"), f"expected a setting of {algo} ({known}), got {describe(n)}"
            continue
        why = _katib_setting(algo, str(n), get(s, "value"))
        if why:
            yield (*path, "algorithmSettings", i, "value"), f"{algo} setting {n}: {why}"


def katib_experiment(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    limit = int(ctx.stack.component("katib").get("nameLimit", 40))
    yield from name_rule(get(body, "metadata", "name"), DNS1035_LABEL, limit, "Katib experiment name")
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
        for i, s in enumerate(obj.get("metricStrategies") or []):
            if get(s, "value") not in ("min", "max", "latest"):
                yield ("spec", "objective", "metricStrategies", i, "value"), \
                    f"expected min, max or latest, got {describe(get(s, 'value'))}"
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
        names.add(get(p, "name"))
    yield from _trial_template(spec.get("trialTemplate"), names, ctx)
    yield from _collector(spec.get("metricsCollectorSpec"))


def _katib_parameter(p: Any, path: PathT) -> Iterator[Finding]:
    t = get(p, "parameterType")
    fs = get(p, "feasibleSpace") or {}
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
    for k in ("min", "max", "step"):  # the API's bounds are strings
        if fs.get(k) is not None and not isinstance(fs[k], str):
            yield (*path, "feasibleSpace", k), f"expected a string, got {describe(fs[k])}"
    if any(not isinstance(v, str) for v in fs.get("list") or []):
        yield (*path, "feasibleSpace", "list"), "expected strings"
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
    if not (tt.get("successCondition") and tt.get("failureCondition")) and \
            (str(get(tt, "trialSpec", "apiVersion")).rpartition("/")[0], get(tt, "trialSpec", "kind")) \
            not in KATIB_TRIAL_RESOURCES:
        yield path, "expected successCondition and failureCondition (Katib defaults them only for the kinds it knows)"
    if tt.get("trialParameters") is None:
        yield (*path, "trialParameters"), "expected trial parameters, got none"
    spec, cm = tt.get("trialSpec"), tt.get("configMap")
    if (spec is None) == (cm is None):
        yield path, "expected exactly one of trialSpec and configMap"
    declared: set[Any] = set()
    refs: set[Any] = set()
    for i, tp in enumerate(tt.get("trialParameters") or []):
        name, ref = get(tp, "name"), get(tp, "reference")
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
    kind = get(mc, "collector", "kind") or "StdOut"
    if kind not in KATIB_COLLECTORS:
        yield (*path, "collector", "kind"), f"expected one of {', '.join(KATIB_COLLECTORS)}, got {describe(kind)}"
    fsp = get(mc, "source", "fileSystemPath") or {}
    if kind == "File":
        p = fsp.get("path")
        if p is not None and not str(p).startswith("/"):
            yield (*path, "source", "fileSystemPath", "path"), f"expected an absolute path, got {describe(p)}"
        if fsp.get("kind") not in (None, "File"):
            yield (*path, "source", "fileSystemPath", "kind"), f"expected File, got {describe(fsp.get('kind'))}"
        if fsp.get("format") not in (None, "TEXT", "JSON"):
            yield (*path, "source", "fileSystemPath", "format"), f"expected TEXT or JSON, got {describe(fsp['format'])}"
        if fsp.get("format") == "JSON" and get(mc, "source", "filter") is not None:
            yield (*path, "source", "filter"), "expected no filter with the JSON format"
    elif kind == "TensorFlowEvent":
        if fsp.get("kind") not in (None, "Directory"):
            yield (*path, "source", "fileSystemPath", "kind"), f"expected Directory, got {describe(fsp.get('kind'))}"
        if fsp.get("format"):
            yield (*path, "source", "fileSystemPath", "format"), "expected no format for TensorFlowEvent"
    elif kind == "PrometheusMetric":
        hg = get(mc, "source", "httpGet") or {}
        port = hg.get("port")
        if isinstance(port, int) and port <= 0:
            yield (*path, "source", "httpGet", "port"), f"expected a port > 0, got {port}"
        if hg.get("path") is not None and not str(hg["path"]).startswith("/"):
            yield (*path, "source", "httpGet", "path"), f"expected a path starting with '/', got {describe(hg['path'])}"
    for i, f in enumerate(get(mc, "source", "filter", "metricsFormat") or []):
        try:
            groups = re.compile(str(f)).groups
        except re.error as e:
            yield (*path, "source", "filter", "metricsFormat", i), f"expected a regular expression, got {f!r} ({e})"
            continue
        if groups < 2:
            yield (*path, "source", "filter", "metricsFormat", i), \
                f"expected a regular expression with two groups (metric name, value), got {groups}"


RULES: dict[str, Rule] = {"kubeflow.org/Experiment": katib_experiment}


def experiment_problems(body: dict[str, Any], stack: Stack) -> list[tuple[str, str]]:
    """(field path, message) for each rule the webhook would reject."""
    return [(fmt_path(p), msg) for p, msg in katib_experiment(body, RuleContext(stack))]


def check_experiment(res: Resource, stack: Stack) -> list[Diagnostic]:
    return [Diagnostic("KF402", f"{res.id} {field}: {msg} (Katib webhook)", res.origin)
            for field, msg in experiment_problems(res.body, stack)]
