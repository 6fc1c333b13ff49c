"""The Katib v0.19 experiment webhook's rules, applied to a rendered Experiment.

Katib's CRD is schemaless, so the API server accepts anything and only the webhook
(`pkg/webhook/v1beta1/experiment/validator/validator.go`) and the defaulter stand between a typo and a
stuck Experiment. This is a paraphrase of those rules over the generated object (code KF402); the
semantic checks in `checks.py` report the same problems earlier, on the spec line, where they can.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from kfconf.core.errors import Diagnostic
from kfconf.core.resource import Resource

NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
PLACEHOLDER = re.compile(r"\$\{trialParameters\..+?\}")
OBJECTIVE_TYPES = ("minimize", "maximize")
PARAMETER_TYPES = ("int", "double", "categorical", "discrete")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
RESUME = ("Never", "LongRunning", "FromVolume")
STRATEGIES = ("min", "max", "latest")
COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push", "None")
NAME_LIMIT = 40


def _dump(obj: Any) -> str:
    import json

    return json.dumps(obj, sort_keys=True)


def experiment_problems(body: dict[str, Any], name_limit: int = NAME_LIMIT) -> list[tuple[str, str]]:
    """(field path, message) for each rule the webhook would reject."""
    out: list[tuple[str, str]] = []
    meta = body.get("metadata", {})
    name = str(meta.get("name", ""))
    if not NAME.match(name):
        out.append(("metadata.name", f"expected a name matching {NAME.pattern}, got {name!r}"))
    if len(name) > name_limit:
        out.append(("metadata.name", f"expected at most {name_limit} characters, got {len(name)}"))
    spec = body.get("spec", {})
    parallel, trials = spec.get("parallelTrialCount"), spec.get("maxTrialCount")
    failed = spec.get("maxFailedTrialCount")
    if failed is not None and failed < 0:
        out.append(("spec.maxFailedTrialCount", f"expected ≥ 0, got {failed}"))
    if trials is not None and trials <= 0:
        out.append(("spec.maxTrialCount", f"expected > 0, got {trials}"))
    if parallel is not None and parallel <= 0:
        out.append(("spec.parallelTrialCount", f"expected > 0, got {parallel}"))
    if failed is not None and trials is not None and failed > trials:
        out.append(("spec.maxFailedTrialCount", f"expected ≤ maxTrialCount ({trials}), got {failed}"))
    if parallel is not None and trials is not None and parallel > trials:
        out.append(("spec.parallelTrialCount", f"expected ≤ maxTrialCount ({trials}), got {parallel}"))

    obj = spec.get("objective") or {}
    if obj.get("type") not in OBJECTIVE_TYPES:
        out.append(("spec.objective.type", f"expected minimize or maximize, got {obj.get('type')!r}"))
    metric = obj.get("objectiveMetricName")
    if not metric:
        out.append(("spec.objective.objectiveMetricName", "expected a metric name"))
    if metric in (obj.get("additionalMetricNames") or []):
        out.append(("spec.objective.additionalMetricNames", f"expected names other than the objective {metric!r}"))
    for s in obj.get("metricStrategies") or []:
        if s.get("value") not in STRATEGIES:
            out.append(("spec.objective.metricStrategies", f"expected min, max or latest, got {s.get('value')!r}"))
    if not (spec.get("algorithm") or {}).get("algorithmName"):
        out.append(("spec.algorithm.algorithmName", "expected an algorithm name"))
    for where in ("algorithm", "earlyStopping"):
        for s in (spec.get(where) or {}).get("algorithmSettings") or []:
            if not isinstance(s.get("value"), str):
                out.append((f"spec.{where}.algorithmSettings", f"expected string values, got {s.get('value')!r}"))
    if "earlyStopping" in spec and not spec["earlyStopping"].get("algorithmName"):
        out.append(("spec.earlyStopping.algorithmName", "expected an early stopping algorithm"))
    if spec.get("resumePolicy", "Never") not in RESUME:
        out.append(("spec.resumePolicy", f"expected one of {', '.join(RESUME)}, got {spec.get('resumePolicy')!r}"))

    params = spec.get("parameters") or []
    if not params and not spec.get("nasConfig"):
        out.append(("spec", "expected parameters or nasConfig"))
    if params and spec.get("nasConfig"):
        out.append(("spec", "expected only one of parameters and nasConfig"))
    for i, p in enumerate(params):
        at = f"spec.parameters[{i}]"
        kind = p.get("parameterType")
        space = p.get("feasibleSpace") or {}
        if kind not in PARAMETER_TYPES:
            out.append((f"{at}.parameterType", f"expected one of {', '.join(PARAMETER_TYPES)}, got {kind!r}"))
        if "distribution" in space and space["distribution"] not in DISTRIBUTIONS:
            out.append((f"{at}.feasibleSpace.distribution", f"unsupported distribution {space['distribution']!r}"))
        if not space:
            out.append((f"{at}.feasibleSpace", "expected a feasible space"))
        elif kind in ("int", "double"):
            if space.get("list"):
                out.append((f"{at}.feasibleSpace.list", f"expected no list for a {kind} parameter"))
            if not space.get("min") and not space.get("max"):
                out.append((f"{at}.feasibleSpace", f"expected min or max for a {kind} parameter"))
        elif kind in ("categorical", "discrete") and any(space.get(k) for k in ("min", "max", "step")):
            out.append((f"{at}.feasibleSpace", f"expected no min, max or step for a {kind} parameter"))
        for k in ("min", "max", "step"):
            if k in space and not isinstance(space[k], str):
                out.append((f"{at}.feasibleSpace.{k}", f"expected a string, got {space[k]!r}"))
        if any(not isinstance(v, str) for v in space.get("list") or []):
            out.append((f"{at}.feasibleSpace.list", "expected strings"))

    out += _trial_template(spec, {p.get("name") for p in params})
    out += _collector(spec.get("metricsCollectorSpec") or {"collector": {"kind": "StdOut"}})
    return out


def _trial_template(spec: dict[str, Any], param_names: set[Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    tt = spec.get("trialTemplate")
    if not tt:
        return [("spec.trialTemplate", "expected a trial template")]
    if not tt.get("primaryContainerName"):
        out.append(("spec.trialTemplate.primaryContainerName", "expected the primary container's name"))
    if not tt.get("successCondition") or not tt.get("failureCondition"):
        out.append(("spec.trialTemplate", "expected successCondition and failureCondition"))
    if tt.get("trialParameters") is None:
        return [*out, ("spec.trialTemplate.trialParameters", "expected trial parameters")]
    if ("trialSpec" in tt) == ("configMap" in tt):
        return [*out, ("spec.trialTemplate", "expected exactly one of trialSpec and configMap")]
    text = _dump(tt.get("trialSpec"))
    names: set[str] = set()
    refs: set[str] = set()
    for i, tp in enumerate(tt["trialParameters"]):
        at = f"spec.trialTemplate.trialParameters[{i}]"
        name, ref = tp.get("name") or "", tp.get("reference") or ""
        if not name or not ref or "{" in name or "}" in name:
            out.append((at, "expected a name (without '{' or '}') and a reference"))
            continue
        if name in names:
            out.append((f"{at}.name", f"expected unique names, got {name!r} again"))
            continue
        if ref in refs:
            out.append((f"{at}.reference", f"expected unique references, got {ref!r} again"))
            continue
        names.add(name)
        refs.add(ref)
        if param_names and ref not in param_names and not ref.startswith("${trialSpec."):
            out.append((f"{at}.reference", f"expected one of spec.parameters, got {ref!r}"))
        token = "${trialParameters." + name + "}"
        if token not in text:
            out.append((f"{at}.name", f"expected {token} in the trialSpec"))
        text = text.replace(token, "test-value")
    left = sorted(set(PLACEHOLDER.findall(text)))
    if left:
        out.append(("spec.trialTemplate.trialSpec", f"expected every placeholder in trialParameters, got "
                    f"{', '.join(left)}"))
    ts = tt.get("trialSpec") or {}
    if "trialSpec" in tt:
        meta = ts.get("metadata") or {}
        if meta.get("name") or meta.get("namespace"):
            out.append(("spec.trialTemplate.trialSpec.metadata", "expected no name or namespace"))
        if not ts.get("apiVersion") or not ts.get("kind"):
            out.append(("spec.trialTemplate.trialSpec", "expected apiVersion and kind"))
    return out


def _collector(mc: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    kind = (mc.get("collector") or {}).get("kind")
    src = mc.get("source") or {}
    fsp = src.get("fileSystemPath") or {}
    at = "spec.metricsCollectorSpec"
    if kind not in COLLECTORS:
        out.append((f"{at}.collector.kind", f"expected one of {', '.join(COLLECTORS)}, got {kind!r}"))
    if kind == "File":
        if fsp.get("kind") != "File" or not posixpath.isabs(fsp.get("path", "")):
            out.append((f"{at}.source.fileSystemPath.path", "expected an absolute file path (kind File)"))
        if fsp.get("format") not in ("TEXT", "JSON"):
            out.append((f"{at}.source.fileSystemPath.format", "expected TEXT or JSON"))
        if fsp.get("format") == "JSON" and src.get("filter"):
            out.append((f"{at}.source.filter", "expected no filter for a JSON metrics file"))
    if kind == "TensorFlowEvent":
        if fsp.get("kind") != "Directory" or not posixpath.isabs(fsp.get("path", "")):
            out.append((f"{at}.source.fileSystemPath", "expected an absolute directory path (kind Directory)"))
        if fsp.get("format"):
            out.append((f"{at}.source.fileSystemPath.format", "expected no format for TensorFlow events"))
    for fmt in (src.get("filter") or {}).get("metricsFormat") or []:
        try:
            re.compile(fmt)
        except re.error as e:
            out.append((f"{at}.source.filter.metricsFormat", f"invalid regular expression {fmt!r}: {e}"))
            continue
        if not re.match(r".*\(.*\).*\(.*\).*", fmt):
            out.append((f"{at}.source.filter.metricsFormat", f"expected two groups (name, value) in {fmt!r}"))
    return out


def check_experiment(res: Resource, name_limit: int = NAME_LIMIT) -> list[Diagnostic]:
    return [Diagnostic("KF402", f"{res.id} {field}: {msg} (Katib webhook)", res.origin)
            for field, msg in experiment_problems(res.body, name_limit)]
