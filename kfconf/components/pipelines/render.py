"""Pipelines → KFP `Pipeline` and `PipelineVersion` (pipelines.kubeflow.org/v2beta1), and a CronJob per
schedule.

A step that runs one of the project's entries (`run: training/x`) is a container that creates that
entry's workload (the very body its own renderer makes, passed to the step as a parameter) and waits
for its outcome: TrainJob Complete/Failed, PyTorchJob and Experiment Succeeded/Failed, SparkApplication
COMPLETED/FAILED, a registration Job Complete/Failed; a serving step server-side applies the
InferenceService and waits for Ready. The step program is `driver.py` (standard library only) in the
stack's `pipeline-driver` image. A container step maps to an executor directly.

PipelineVersion.spec is immutable, so its name carries a hash of its spec: a changed pipeline is a new
PipelineVersion, and the old one leaves git (and the cluster) with the old content.

Schedules: KFP 2.17 has no Kubernetes-native RecurringRun, and a ScheduledWorkflow needs the pipeline's
UIDs, which are unknown when the YAML is written. So a schedule is a CronJob that, at each tick, starts
one run of the current PipelineVersion through the KFP REST API (`POST /apis/v2beta1/runs`), looking up
the ids by name. It is declarative (pruned with the pipeline) but, unlike a KFP recurring run, it does
not appear as a recurring run in the KFP UI and does not limit concurrent runs; every run it starts does
appear, in the experiment named after the project.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from kfconf.build.context import RenderContext
from kfconf.components.k8s import GPU, env_list, resources
from kfconf.components.pipelines import ir
from kfconf.components.training import render as training
from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.resource import Resource
from kfconf.core.source import PathT

MANIFEST = "manifest"
DEFAULT_READY_TIMEOUT = 1800


# Kind → (REST plural, probe, ok, fail, mode): how a step waits for a workload's outcome.
WAITS: dict[str, tuple[str, str, str, str, str]] = {
    "TrainJob": ("trainjobs", "conditions", "Complete", "Failed", "create"),
    "PyTorchJob": ("pytorchjobs", "conditions", "Succeeded", "Failed", "create"),
    "Experiment": ("experiments", "conditions", "Succeeded", "Failed", "create"),
    "SparkApplication": ("sparkapplications", "status.applicationState.state", "COMPLETED",
                         "FAILED,SUBMISSION_FAILED", "create"),
    "Job": ("jobs", "conditions", "Complete", "Failed", "create"),
    "InferenceService": ("inferenceservices", "conditions", "Ready", "", "apply"),
}
# Kubernetes name limits for generateName prefixes (5 random characters are appended)
NAME_LIMITS = {"Experiment": 40}


@cache
def driver_source() -> str:
    return (Path(__file__).with_name("driver.py")).read_text(encoding="utf-8")


def settings(ctx: RenderContext) -> dict[str, Any]:
    return ctx.stack.component("pipelines")


def driver_image(ctx: RenderContext) -> str:
    return ctx.image(None, "pipeline-driver")


def _problem(ctx: RenderContext, path: PathT, message: str, code: str = "KF305") -> Diagnostic:
    return Diagnostic(code, message, ctx.loc(path), path)


def _workloads(ctx: RenderContext, ref: str, step_path: PathT, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The bodies an entry's own renderer makes for it (before post-processing)."""
    key, _, name = ref.partition("/")
    entry = ctx.project.entry(ref)
    if entry is None:
        raise FindingsError([_problem(ctx, (*step_path, "run"), f"expected an entry, got {ref!r}", "KF201")])
    if params and key != "training":
        raise FindingsError([_problem(ctx, (*step_path, "params"),
                                      f"expected no params for a {key} step (params override training args)",
                                      "KF205")])
    if key == "training":
        args = dict(entry.args) if isinstance(entry.args, dict) else None
        if params and args is None:
            raise FindingsError([_problem(ctx, (*step_path, "params"),
                                          "expected the training entry to have an args mapping to override",
                                          "KF205")])
        merged = training.render_args({**args, **params}) if args is not None and params else None
        return [training.job_body(RenderContext(ctx.project, ctx.stack, "training"), entry, args=merged).body]
    if key == "tuning":
        from kfconf.components.tuning.render import experiment

        return [experiment(RenderContext(ctx.project, ctx.stack, "tuning"), entry)[0]]
    from kfconf.components import BY_KEY

    comp = BY_KEY[key]
    try:
        rendered = list(comp.run_render(RenderContext(ctx.project, ctx.stack, key)))
    except (ImportError, AttributeError):
        raise FindingsError([_problem(ctx, (*step_path, "run"),
                                      f"expected a component kfconf can render, got {key} (no renderer yet)")])
    return [r.body for r in rendered if r.entry == name]


def _runnable(bodies: list[dict[str, Any]]) -> dict[str, Any] | None:
    for body in bodies:
        if body["kind"] in WAITS:
            return body
    for body in bodies:  # a scheduled Spark job runs once as the SparkApplication of its template
        if body["kind"] == "ScheduledSparkApplication":
            return {"apiVersion": body["apiVersion"], "kind": "SparkApplication",
                    "metadata": dict(body["metadata"]), "spec": body["spec"]["template"]}
    return None


def _api_path(body: dict[str, Any], plural: str) -> str:
    api = body["apiVersion"]
    prefix = f"/apis/{api}" if "/" in api else f"/api/{api}"
    return f"{prefix}/namespaces/{body['metadata']['namespace']}/{plural}"


def run_step(ctx: RenderContext, pl: Any, step: Any, path: PathT) -> tuple[ir.Executor, str]:
    """A container that creates (or applies) the entry's workload and waits for its outcome; and the
    workload's manifest, which the step receives as its input parameter."""
    body = _runnable(_workloads(ctx, step.run, path, dict(step.params)))
    if body is None:
        raise FindingsError([_problem(ctx, (*path, "run"), f"expected {step.run} to render a workload a "
                                      f"pipeline can run ({', '.join(WAITS)}), got none")])
    body = copy.deepcopy(body)
    plural, probe, ok, fail, mode = WAITS[body["kind"]]
    meta = body["metadata"]
    labels = {**(meta.get("labels") or {}), "app.kubernetes.io/part-of": ctx.project.name,
              "kfconf.dev/project": ctx.project.name, "kfconf.dev/pipeline": pl.name, "kfconf.dev/step": step.name}
    if mode == "create":
        limit = NAME_LIMITS.get(body["kind"], 63) - 6
        body["metadata"] = {"generateName": meta["name"][:limit].rstrip("-") + "-",
                            "namespace": meta["namespace"], "labels": labels}
        deadline = 0
        timeout = getattr(ctx.project.entry(step.run), "timeout_seconds", None)
        if body["kind"] in ("TrainJob", "PyTorchJob") and timeout:
            deadline = int(timeout) + 600  # the job's own deadline, plus time to be scheduled
    else:
        meta["labels"] = labels
        deadline = int(settings(ctx).get("readyTimeoutSeconds", DEFAULT_READY_TIMEOUT))
    manifest = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return ir.Executor(
        image=driver_image(ctx),
        command=["python3", "-c", driver_source()],
        args=[mode, _api_path(body, plural), probe, ok, fail, str(deadline),
              "{{$.inputs.parameters['" + MANIFEST + "']}}"],
    ), manifest


def container_step(ctx: RenderContext, step: Any, path: PathT) -> ir.Executor:
    c = step.container
    env: dict[str, str] = {}
    secret_env: list[dict[str, Any]] = []
    cm_env: list[dict[str, Any]] = []
    for name, value in c.env.items():
        spec_env = env_list({name: value})[0]
        if "value" in spec_env:
            env[name] = spec_env["value"]
        elif "secretKeyRef" in spec_env["valueFrom"]:
            ref = spec_env["valueFrom"]["secretKeyRef"]
            secret_env.append({"secretNameParameter": {"runtimeValue": {"constant": ref["name"]}},
                               "keyToEnv": [{"secretKey": ref["key"], "envVar": name}]})
        else:
            ref = spec_env["valueFrom"]["configMapKeyRef"]
            cm_env.append({"configMapNameParameter": {"runtimeValue": {"constant": ref["name"]}},
                           "keyToEnv": [{"configMapKey": ref["key"], "envVar": name}]})
    platform: dict[str, Any] = {}
    if secret_env:
        platform["secretAsEnv"] = secret_env
    if cm_env:
        platform["configMapAsEnv"] = cm_env
    rr = resources(c.resources)
    res: dict[str, Any] = {}
    for src, dst in (("requests", "Request"), ("limits", "Limit")):
        for k in ("cpu", "memory"):
            if k in rr.get(src, {}):
                res[f"resource{k.capitalize()}{dst}"] = rr[src][k]
    if c.resources.gpu:
        res["accelerator"] = {"resourceType": GPU, "resourceCount": str(c.resources.gpu)}
    return ir.Executor(image=ctx.image(c.image), command=list(c.command), args=list(c.args), env=env,
                       resources=res, platform=platform)


def version_hash(spec: dict[str, Any]) -> str:
    raw = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(raw).hexdigest()[:10]


def pipeline_resources(ctx: RenderContext, pl: Any) -> list[tuple[dict[str, Any], dict[str, str]]]:
    base = ctx.path(pl)
    problems: list[Diagnostic] = []
    tasks: list[ir.Task] = []
    explain_ir: dict[str, str] = {}
    for i, step in enumerate(pl.steps):
        sp = (*base, "steps", i)
        try:
            if step.run is not None:
                executor, manifest = run_step(ctx, pl, step, sp)
                tasks.append(ir.Task(step.name, executor, list(step.after), inputs={MANIFEST: manifest}))
                explain_ir[f"root.dag.tasks.{step.name}"] = f"{ctx.origin((*sp, 'run'))} ({step.run})"
            else:
                executor = container_step(ctx, step, sp)
                inputs = {k: v for k, v in step.params.items()}
                tasks.append(ir.Task(step.name, executor, list(step.after), inputs=inputs,
                                     pipeline_inputs=[p for p in pl.parameters if p not in inputs]))
                explain_ir[f"root.dag.tasks.{step.name}"] = ctx.origin((*sp, "container"))
        except FindingsError as e:
            problems += e.diagnostics
    if problems:
        raise FindingsError(problems)
    s = settings(ctx)
    pipeline_spec, platform_spec = ir.build(pl.name, pl.description, str(s.get("sdkVersion", "kfp-2.17.3")),
                                            dict(pl.parameters), tasks)
    api = s.get("apiVersion", "pipelines.kubeflow.org/v2beta1")
    ns = ctx.namespace
    display = pl.description.splitlines()[0] if pl.description else pl.name
    pipeline = {"apiVersion": api, "kind": "Pipeline", "metadata": {"name": pl.name, "namespace": ns},
                "spec": {"displayName": pl.name, **({"description": pl.description} if pl.description else {})}}
    vspec: dict[str, Any] = {"pipelineName": pl.name, "displayName": display,
                             **({"description": pl.description} if pl.description else {}),
                             "pipelineSpec": pipeline_spec}
    if platform_spec:
        vspec["platformSpec"] = platform_spec
    digest = version_hash(vspec)
    version_name = f"{pl.name}-{digest}"
    if s.get("versionName", False):
        vspec["versionName"] = digest  # KFP 2.17: <pipeline>-<version> with versionName <version>
    version = {"apiVersion": api, "kind": "PipelineVersion", "metadata": {"name": version_name, "namespace": ns},
               "spec": vspec}
    explain_p = {"metadata.name": ctx.origin((*base, "name")), "apiVersion": ctx.stack_origin(
        "components.pipelines.apiVersion")}
    explain_v = {"metadata.name": f"{ctx.origin((*base, 'name'))} + hash of the spec",
                 "spec.pipelineSpec.pipelineInfo.name": ctx.origin((*base, "name")),
                 "spec.pipelineSpec.sdkVersion": ctx.stack_origin("components.pipelines.sdkVersion"),
                 **{f"spec.pipelineSpec.{k}": v for k, v in explain_ir.items()}}
    if pl.parameters:
        explain_v["spec.pipelineSpec.root.inputDefinitions"] = ctx.origin((*base, "parameters"))
    if "versionName" in vspec:
        explain_v["spec.versionName"] = ctx.stack_origin("components.pipelines.versionName")
    out = [(pipeline, explain_p), (version, explain_v)]
    if pl.schedule:
        out.append(schedule(ctx, pl, version_name, base))
    return out


def schedule(ctx: RenderContext, pl: Any, version_name: str, base: PathT) -> tuple[dict[str, Any], dict[str, str]]:
    if pl.schedule.strip().startswith("@every"):
        raise FindingsError([_problem(ctx, (*base, "schedule"), "expected a cron schedule or a macro such as "
                                      f"@daily (a Kubernetes CronJob has no @every), got {pl.schedule!r}")])
    s = settings(ctx)
    container = {
        "name": "start-run",
        "image": driver_image(ctx),
        "command": ["python3", "-c", driver_source()],
        "args": ["run", str(s.get("apiUrl", "http://ml-pipeline.kubeflow.svc.cluster.local:8888")), ctx.namespace,
                 pl.name, version_name, ctx.project.name],
        "volumeMounts": [{"name": "kfp-token", "mountPath": "/var/run/secrets/kubeflow/pipelines",
                          "readOnly": True}],
    }
    pod = {"serviceAccountName": str(s.get("serviceAccount", "default-editor")), "restartPolicy": "Never",
           "containers": [container],
           "volumes": [{"name": "kfp-token", "projected": {"sources": [{"serviceAccountToken": {
               "path": "token", "audience": "pipelines.kubeflow.org", "expirationSeconds": 3600}}]}}]}
    body = {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": f"{pl.name}-schedule", "namespace": ctx.namespace},
            "spec": {"schedule": pl.schedule, "concurrencyPolicy": "Forbid",
                     "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": pod}}}}}
    explain = {"spec.schedule": ctx.origin((*base, "schedule")),
               "spec.jobTemplate.spec.template.spec.containers[0].args": ctx.stack_origin(
                   "components.pipelines.apiUrl"),
               "spec.jobTemplate.spec.template.spec.serviceAccountName": ctx.stack_origin(
                   "components.pipelines.serviceAccount")}
    return body, explain


def render(ctx: RenderContext) -> Iterator[Resource]:
    problems: list[Diagnostic] = []
    for pl in ctx.entries():
        try:
            made = pipeline_resources(ctx, pl)
        except FindingsError as e:
            problems += e.diagnostics
            continue
        for body, explain in made:
            res = ctx.resource(body, pl)
            res.explain.update(explain)
            yield res
    if problems:
        raise FindingsError(problems)
