"""Tuning → Katib Experiment (kubeflow.org/v1beta1) whose trials are the referenced training entry.

The trial template is the training renderer's own body (TrainJob, or PyTorchJob on the legacy stack)
with `${trialParameters.NAME}` in place of each tuned arg. Everything Katib's defaulting webhook would
add (metric strategies, resume policy, collector source, success/failure conditions, primary pod
labels) is written out, so a GitOps diff against the live object shows no phantom drift. Katib's CRD is
schemaless: its webhook is the only check upstream, so the rules it applies are in `tuning/checks.py`
(on the spec line) and `tuning/rules.py` (on the rendered object).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kfconf.build.context import RenderContext
from kfconf.components.k8s import scalar
from kfconf.components.training import render as training
from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.resource import Resource

# Katib v0.19 webhook defaults for a trial's job kind (experiment_defaults.go / the notes, §2)
CONDITIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    "TrainJob": ('status.conditions.#(type=="Complete")#|#(status=="True")#',
                 'status.conditions.#(type=="Failed")#|#(status=="True")#',
                 {"jobset.sigs.k8s.io/replicatedjob-name": "node", "batch.kubernetes.io/job-completion-index": "0"}),
    "PyTorchJob": ('status.conditions.#(type=="Succeeded")#|#(status=="True")#',
                   'status.conditions.#(type=="Failed")#|#(status=="True")#',
                   {"training.kubeflow.org/job-role": "master"}),
}
PRIMARY_CONTAINER = {"TrainJob": training.NODE, "PyTorchJob": training.PYTORCH}
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"
PARAMETER_TYPES = {"int": "int", "double": "double", "categorical": "categorical", "discrete": "discrete"}


def placeholder(name: str) -> str:
    return "${trialParameters." + name + "}"


def number(value: float, kind: str) -> str:
    """Katib feasibleSpace values are strings: whole numbers for int parameters."""
    if kind == "int" and float(value).is_integer():
        return str(int(value))
    return scalar(value)


def trial_args(trial: Any, tuned: list[str]) -> list[str]:
    """The trial's args with each tuned parameter's value replaced by its placeholder."""
    if isinstance(trial.args, dict):
        args = dict(trial.args)
        return [a for key, value in args.items()
                for a in (f"--{key}", placeholder(key) if key in tuned else scalar(value))]
    out: list[str] = []
    replace_next = None
    for arg in trial.args:
        if replace_next is not None:
            out.append(placeholder(replace_next))
            replace_next = None
            continue
        flag, eq, _ = arg.partition("=")
        name = flag.lstrip("-")
        if arg.startswith("-") and name in tuned:
            if eq:
                out.append(f"{flag}={placeholder(name)}")
                continue
            replace_next = name
        out.append(arg)
    return out


def _parameter(name: str, prm: Any) -> dict[str, Any]:
    space: dict[str, Any] = {}
    if prm.type in ("int", "double"):
        space["min"] = number(prm.min, prm.type)
        space["max"] = number(prm.max, prm.type)
        if prm.step is not None:
            space["step"] = number(prm.step, prm.type)
    else:
        space["list"] = [scalar(v) for v in prm.values or []]
    if prm.distribution is not None:
        space["distribution"] = prm.distribution
    return {"name": name, "parameterType": PARAMETER_TYPES[prm.type], "feasibleSpace": space}


def _settings(settings: dict[str, Any]) -> list[dict[str, str]]:
    return [{"name": k, "value": scalar(v)} for k, v in settings.items()]


def experiment(ctx: RenderContext, job: Any) -> tuple[dict[str, Any], dict[str, str]]:
    base = ctx.path(job)
    explain: dict[str, str] = {}

    def ex(field: str, *spec: str | int) -> None:
        explain[field] = ctx.origin((*base, *spec))

    trial = ctx.project.entry(job.trial)
    if trial is None:  # validation reports the dangling reference; never reached after it
        raise FindingsError([Diagnostic("KF201", f"expected a training entry, got {job.trial!r}",
                                        ctx.loc((*base, "trial")), (*base, "trial"))])
    tuned = list(job.parameters)
    built = training.job_body(ctx, trial, args=trial_args(trial, tuned))
    trial_body = built.body
    kind = trial_body["kind"]
    trial_spec: dict[str, Any] = {"apiVersion": trial_body["apiVersion"], "kind": kind}
    labels = trial_body["metadata"].get("labels")
    if labels:
        trial_spec["metadata"] = {"labels": labels}  # Katib forbids only name and namespace here
    trial_spec["spec"] = trial_body["spec"]
    ex("spec.trialTemplate.trialSpec", "trial")
    success, failure, pod_labels = CONDITIONS[kind]

    obj = job.objective
    goal_type = "maximize" if obj.goal == "maximize" else "minimize"
    extract = "max" if goal_type == "maximize" else "min"
    objective: dict[str, Any] = {"type": goal_type}
    if obj.target is not None:
        objective["goal"] = obj.target
        ex("spec.objective.goal", "objective", "target")
    objective["objectiveMetricName"] = obj.metric
    if obj.additional:
        objective["additionalMetricNames"] = list(obj.additional)
        ex("spec.objective.additionalMetricNames", "objective", "additional")
    objective["metricStrategies"] = [{"name": m, "value": extract} for m in (obj.metric, *obj.additional)]
    ex("spec.objective.type", "objective", "goal")
    ex("spec.objective.objectiveMetricName", "objective", "metric")
    explain["spec.objective.metricStrategies"] = "Katib default (min/max by objective type), written out"

    algorithm: dict[str, Any] = {"algorithmName": job.algorithm.name}
    ex("spec.algorithm.algorithmName", "algorithm", "name")
    if job.algorithm.settings:
        algorithm["algorithmSettings"] = _settings(job.algorithm.settings)
        ex("spec.algorithm.algorithmSettings", "algorithm", "settings")

    spec: dict[str, Any] = {
        "objective": objective,
        "algorithm": algorithm,
    }
    if job.early_stopping is not None:
        es: dict[str, Any] = {"algorithmName": job.early_stopping.name}
        if job.early_stopping.settings:
            es["algorithmSettings"] = _settings(job.early_stopping.settings)
        spec["earlyStopping"] = es
        ex("spec.earlyStopping", "earlyStopping")
    b = job.budget
    spec["parallelTrialCount"] = b.parallel
    spec["maxTrialCount"] = b.trials
    spec["maxFailedTrialCount"] = b.failures
    ex("spec.parallelTrialCount", "budget", "parallel")
    ex("spec.maxTrialCount", "budget", "trials")
    ex("spec.maxFailedTrialCount", "budget", "failures")
    # PBT resumes trials from checkpoints on the suggestion's volume (upstream's simple-pbt example)
    spec["resumePolicy"] = "FromVolume" if job.algorithm.name == "pbt" else "Never"
    explain["spec.resumePolicy"] = "Katib default (FromVolume for pbt), written out"
    spec["parameters"] = [_parameter(n, p) for n, p in job.parameters.items()]
    for i, n in enumerate(job.parameters):
        ex(f"spec.parameters[{i}]", "parameters", n)

    mc = job.metrics_collector
    if mc.kind == "file":
        spec["metricsCollectorSpec"] = {
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": mc.path or DEFAULT_METRICS_FILE, "kind": "File",
                                          "format": "TEXT"}}}
    else:
        spec["metricsCollectorSpec"] = {"collector": {"kind": "StdOut"}}
    ex("spec.metricsCollectorSpec", "metricsCollector")

    spec["trialTemplate"] = {
        "primaryContainerName": PRIMARY_CONTAINER[kind],
        "successCondition": success,
        "failureCondition": failure,
        "primaryPodLabels": dict(pod_labels),
        "trialParameters": [{"name": n, "description": f"{n} of {job.trial}", "reference": n} for n in tuned],
        "trialSpec": trial_spec,
    }
    explain["spec.trialTemplate.primaryContainerName"] = ctx.stack_origin(
        f"components.trainer.target ({kind} trainer container)")
    explain["spec.trialTemplate.successCondition"] = f"Katib default for {kind}, written out"
    explain["spec.trialTemplate.primaryPodLabels"] = f"Katib default for {kind}, written out"
    for field, origin in built.explain.items():
        if field.startswith("spec."):
            explain[f"spec.trialTemplate.trialSpec.{field}"] = origin
    settings = ctx.stack.component("katib")
    body = {"apiVersion": settings.get("apiVersion", "kubeflow.org/v1beta1"), "kind": "Experiment",
            "metadata": {"name": job.name, "namespace": ctx.namespace}, "spec": spec}
    explain["apiVersion"] = ctx.stack_origin("components.katib.apiVersion")
    ex("metadata.name", "name")
    return body, explain


def render(ctx: RenderContext) -> Iterator[Resource]:
    from kfconf.components.tuning.rules import check_experiment

    problems: list[Diagnostic] = []
    for job in ctx.entries():
        try:
            body, explain = experiment(ctx, job)
        except FindingsError as e:
            problems += e.diagnostics
            continue
        res = ctx.resource(body, job)
        res.explain.update(explain)
        problems += check_experiment(res, ctx.stack)
        yield res
    if problems:
        raise FindingsError(problems)
