"""Trainer TrainJob: the rules of its validating webhook (pkg/runtime/framework/plugins), over the rendered
object (KF402, kfconf.build.rules_webhook)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kfconf.build.rules_webhook import Finding, Rule, RuleContext, get
from kfconf.components.training.frameworks import FRAMEWORK_POLICY, RESERVED_ENV
from kfconf.core.source import PathT, describe

NO_ENV_CONTAINERS = ("node", "dataset-initializer", "model-initializer")
MANAGER = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/[^/]+")


def trainjob(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    spec = body.get("spec") or {}
    ns = get(body, "metadata", "namespace") or ""
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
    for i, e in enumerate(get(spec, "trainer", "env") or []):
        n = get(e, "name")
        if n in reserved:
            yield ("spec", "trainer", "env", i, "name"), f"{n} is set by the Trainer's {reserved[n]} plugin; " \
                                                         "it must not be set by the job"
    if runtime is not None:
        for k in ("dataset", "model"):
            has = runtime.get(f"{k}Initializer", runtime.get("initializers", False))
            if get(spec, "initializer", k) is not None and not has:
                yield ("spec", "initializer", k), f"runtime {rname} of stack {ctx.stack.name} has no " \
                                                  f"{k}-initializer job (with a container of that name)"
    for i, patch in enumerate(spec.get("runtimePatches") or []):
        path: PathT = ("spec", "runtimePatches", i)
        m = get(patch, "manager")
        if not isinstance(m, str) or not MANAGER.match(m):
            yield (*path, "manager"), f"expected a domain-prefixed path such as example.com/tool, got {describe(m)}"
        jobs = get(patch, "trainingRuntimeSpec", "template", "spec", "replicatedJobs") or []
        for j, job in enumerate(jobs):
            pod = get(job, "template", "spec", "template", "spec") or {}
            for ck in ("containers", "initContainers"):
                for c, cont in enumerate(pod.get(ck) or []):
                    if get(cont, "name") in NO_ENV_CONTAINERS and get(cont, "env") is not None:
                        yield ((*path, "trainingRuntimeSpec", "template", "spec", "replicatedJobs", j, "template",
                                "spec", "template", "spec", ck, c, "env"),
                               f"env must not be patched on container {cont['name']!r}; use spec.trainer.env")
RULES: dict[str, Rule] = {
    "trainer.kubeflow.org/TrainJob": trainjob,
}
