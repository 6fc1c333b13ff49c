"""Data → SparkApplication (or ScheduledSparkApplication when the job has a schedule) for the Spark
Operator, plus the driver's ServiceAccount, Role and RoleBinding once per namespace.

The Role grants what the operator chart's per-namespace spark Role grants (pods, configmaps, PVCs and
services; charts/spark-operator-chart/templates/spark/rbac.yaml): the driver creates its executors, their
config maps and the driver service itself. sparkConf never carries the keys the operator's webhook owns
(checked in checks.py); placement goes on the driver and the executors, never on the spec as well
(webhook rule: nodeSelector on one level only)."""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Iterator
from typing import Any

from kfconf.build.context import RenderContext
from kfconf.components.k8s import RBAC_GROUP, Explain, env_list, pod_placement, project_spec, scalar
from kfconf.core.resource import Resource
from kfconf.spec.types import is_uri

ROLE_RULES = [{"apiGroups": [""], "resources": ["pods", "configmaps", "persistentvolumeclaims", "services"],
               "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]}]


def settings(ctx: RenderContext) -> dict[str, Any]:
    return ctx.stack.component("spark")


def service_account(ctx: RenderContext) -> str:
    return str(settings(ctx).get("serviceAccount", "kfconf-spark"))


def main_file(ctx: RenderContext, file: str) -> str:
    """`jobs/features.py` → `local:///app/jobs/features.py` (the file as the image holds it); a URI
    (s3a://, gs://, local://) passes through."""
    if is_uri(file):
        return file
    workdir = project_spec(ctx).source.image_workdir
    return "local://" + posixpath.normpath(posixpath.join(workdir, file))


def application_spec(ctx: RenderContext, job: Any, ex: Explain, prefix: str = "spec") -> dict[str, Any]:
    """The SparkApplicationSpec of a data job; `prefix` is where it sits in the body (for --explain)."""
    st = settings(ctx)
    named = project_spec(ctx).images
    if job.image:
        image = ctx.image(job.image)
        ex.spec(f"{prefix}.image", "image")
    elif "spark" in named:  # the project's own `spark` image is its default for Spark jobs
        image = str(named["spark"])
        ex.at(f"{prefix}.image", ("spec", "images", "spark"))
    else:
        image = ctx.image(None, "spark")
        ex.stack(f"{prefix}.image", "images.spark")
    spec: dict[str, Any] = {
        "type": "Python", "pythonVersion": "3", "mode": "cluster", "image": image,
        "sparkVersion": str(st.get("sparkVersion", "4.0.4")),
        "mainApplicationFile": main_file(ctx, job.file),
    }
    ex.stack(f"{prefix}.sparkVersion", "components.spark.sparkVersion")
    ex.spec(f"{prefix}.mainApplicationFile", "file")
    if not is_uri(job.file):
        workdir = ctx.origin(("spec", "source", "imageWorkdir"))
        ex.out[f"{prefix}.mainApplicationFile"] += f" + spec.source.imageWorkdir ({workdir})"
    if job.args:
        spec["arguments"] = [scalar(a) for a in job.args]
        ex.spec(f"{prefix}.arguments", "args")
    if job.conf:
        spec["sparkConf"] = {k: scalar(v) for k, v in job.conf.items()}
        ex.spec(f"{prefix}.sparkConf", "conf")
    spec["restartPolicy"] = {"type": "Never"}
    ex.fixed(f"{prefix}.restartPolicy", "a failed run is retried by its schedule or a new build, not in place")
    env = env_list(job.env)
    placement = pod_placement(job.placement)
    driver: dict[str, Any] = {"cores": job.driver.cores, "memory": job.driver.memory,
                              "serviceAccount": service_account(ctx)}
    executor: dict[str, Any] = {"instances": job.executors.count, "cores": job.executors.cores,
                                "memory": job.executors.memory}
    ex.spec(f"{prefix}.driver.cores", "driver", "cores")
    ex.spec(f"{prefix}.driver.memory", "driver", "memory")
    ex.stack(f"{prefix}.driver.serviceAccount", "components.spark.serviceAccount")
    ex.spec(f"{prefix}.executor.instances", "executors", "count")
    ex.spec(f"{prefix}.executor.cores", "executors", "cores")
    ex.spec(f"{prefix}.executor.memory", "executors", "memory")
    for role, pod in (("driver", driver), ("executor", executor)):
        if env:
            pod["env"] = copy.deepcopy(env)  # no shared objects: the YAML would get anchors
            ex.spec(f"{prefix}.{role}.env", "env")
        pod.update(copy.deepcopy(placement))
        for key in placement:
            ex.spec(f"{prefix}.{role}.{key}", "placement")
    spec["driver"], spec["executor"] = driver, executor
    return spec


def application(ctx: RenderContext, job: Any) -> Resource:
    base = ctx.path(job)
    ex = Explain(ctx, base)
    meta = {"name": job.name, "namespace": ctx.namespace}
    api = settings(ctx).get("apiVersion", "sparkoperator.k8s.io/v1beta2")
    if job.schedule:
        template = application_spec(ctx, job, ex, "spec.template")
        body = {"apiVersion": api, "kind": "ScheduledSparkApplication", "metadata": meta,
                "spec": {"schedule": job.schedule.strip(), "concurrencyPolicy": "Forbid", "template": template}}
        ex.spec("spec.schedule", "schedule")
        ex.fixed("spec.concurrencyPolicy", "a run never overlaps the previous one of the same job")
    else:
        body = {"apiVersion": api, "kind": "SparkApplication", "metadata": meta,
                "spec": application_spec(ctx, job, ex)}
    ex.spec("metadata.name", "name")
    ex.stack("apiVersion", "components.spark.apiVersion")
    res = ctx.resource(body, job)
    res.explain.update(ex.out)
    return res


def rbac(ctx: RenderContext) -> Iterator[Resource]:
    """The driver's ServiceAccount, Role and RoleBinding, all named like the service account."""
    name, ns = service_account(ctx), ctx.namespace
    meta = {"name": name, "namespace": ns}
    why = {"metadata.name": ctx.stack_origin("components.spark.serviceAccount")}
    bodies: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role", "metadata": dict(meta), "rules": ROLE_RULES},
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding", "metadata": dict(meta),
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
         "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name}},
    ]
    for body in bodies:
        # the origin is the whole data section: these objects exist for every job, not the first alone
        res = ctx.resource(body, path=("spec", "data"))
        res.explain.update(why)
        yield res


def render(ctx: RenderContext) -> Iterator[Resource]:
    jobs = ctx.entries()
    if not jobs:
        return
    if settings(ctx).get("createServiceAccount", True):
        yield from rbac(ctx)
    for job in jobs:
        yield application(ctx, job)
