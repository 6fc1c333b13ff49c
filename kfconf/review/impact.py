"""What a change costs and risks: requested GPUs, CPU and memory before → after, replica changes,
canary traffic (a canary reaching 100% is a rollout), resources added and removed, and the
changes that force a replace.

Demand is what the resources request when every workload runs at its configured parallelism:
TrainJob resourcesPerNode × numNodes, InferenceService components × minReplicas (canaries too),
Notebooks (none when stopped), SparkApplication driver + executor × instances, a Katib trial ×
parallelTrialCount, and the pod templates of plain workloads × their replicas or parallelism.
A container's requests fall back to its limits, as the API server defaults them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kfconf.core.resource import Resource
from kfconf.review.diff import ResourceChange
from kfconf.review.normalize import group_kind
from kfconf.review.quantity import fmt_cpu, fmt_gpu, fmt_memory, quantity, spark_memory

ZERO = Decimal(0)
STOPPED_ANNOTATION = "kubeflow-resource-stopped"
ISVC_COMPONENTS = ("predictor", "transformer", "explainer")
ISVC_IMPLEMENTATIONS = ("model", "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "triton", "onnx", "pmml",
                        "paddle", "huggingface", "art")


@dataclass(frozen=True)
class Demand:
    cpu: Decimal = ZERO
    """cores"""
    memory: Decimal = ZERO
    """bytes"""
    gpu: Decimal = ZERO

    def __add__(self, o: Demand) -> Demand:
        return Demand(self.cpu + o.cpu, self.memory + o.memory, self.gpu + o.gpu)

    def __sub__(self, o: Demand) -> Demand:
        return Demand(self.cpu - o.cpu, self.memory - o.memory, self.gpu - o.gpu)

    def times(self, n: Any) -> Demand:
        k = Decimal(n) if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else Decimal(1)
        return Demand(self.cpu * k, self.memory * k, self.gpu * k)

    def max(self, o: Demand) -> Demand:
        return Demand(max(self.cpu, o.cpu), max(self.memory, o.memory), max(self.gpu, o.gpu))

    def to_json(self) -> dict[str, str]:
        return {"cpu": fmt_cpu(self.cpu), "memory": fmt_memory(self.memory), "gpu": fmt_gpu(self.gpu)}


def _get(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _count(value: Any, default: int = 1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def is_gpu(resource_name: str) -> bool:
    """nvidia.com/gpu, amd.com/gpu, gpu.intel.com/i915 … (a device plugin names its GPUs)."""
    return "gpu" in resource_name.lower() or resource_name.lower().endswith("/i915")


def container_demand(resources: Any) -> Demand:
    """requests, falling back to limits per resource, as the API server defaults them."""
    if not isinstance(resources, dict):
        return Demand()
    req: dict[str, Any] = resources["requests"] if isinstance(resources.get("requests"), dict) else {}
    lim: dict[str, Any] = resources["limits"] if isinstance(resources.get("limits"), dict) else {}
    names = set(req) | set(lim)
    cpu = mem = gpu = ZERO
    for name in names:
        q = quantity(req[name] if name in req else lim.get(name))
        if q is None:
            continue
        if name == "cpu":
            cpu += q
        elif name == "memory":
            mem += q
        elif is_gpu(name):
            gpu += q
    return Demand(cpu, mem, gpu)


def pod_demand(pod_spec: Any) -> Demand:
    """A pod requests the larger of its containers' sum and its largest init container."""
    if not isinstance(pod_spec, dict):
        return Demand()
    total = Demand()
    for c in pod_spec.get("containers") or []:
        total = total + container_demand(_get(c, "resources"))
    init = Demand()
    for c in pod_spec.get("initContainers") or []:
        init = init.max(container_demand(_get(c, "resources")))
    return total.max(init)


def _isvc_component(comp: Any) -> Demand:
    if not isinstance(comp, dict):
        return Demand()
    d = Demand()
    for impl in ISVC_IMPLEMENTATIONS:
        if isinstance(comp.get(impl), dict):
            d = d + container_demand(comp[impl].get("resources"))
    for c in comp.get("containers") or []:
        d = d + container_demand(_get(c, "resources"))
    return d.times(_count(comp.get("minReplicas"), 1))


def _spark_role(role: Any) -> Demand:
    if not isinstance(role, dict):
        return Demand()
    cores = quantity(role.get("coreRequest")) if role.get("coreRequest") is not None else quantity(role.get("cores"))
    mem = spark_memory(role.get("memory")) or ZERO
    overhead = spark_memory(role.get("memoryOverhead")) or ZERO
    gpu = quantity(_get(role, "gpu", "quantity")) or ZERO
    return Demand(cores or ZERO, mem + overhead, gpu)


def _spark_app(spec: Any) -> Demand:
    if not isinstance(spec, dict):
        return Demand()
    executor = spec.get("executor")
    n = _count(_get(executor, "instances"), 1)
    dyn = spec.get("dynamicAllocation")
    if isinstance(dyn, dict) and dyn.get("enabled"):
        n = _count(dyn.get("maxExecutors"), n)
    return _spark_role(spec.get("driver")) + _spark_role(executor).times(n)


def demand(body: dict[str, Any]) -> Demand:
    """What one rendered object requests when it runs at full parallelism."""
    group, kind = group_kind(body)
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return Demand()
    if kind == "TrainJob":
        trainer = spec.get("trainer") or {}
        return container_demand(_get(trainer, "resourcesPerNode")).times(_count(_get(trainer, "numNodes"), 1))
    if kind == "PyTorchJob":
        total = Demand()
        for rs in (spec.get("pytorchReplicaSpecs") or {}).values():
            total = total + pod_demand(_get(rs, "template", "spec")).times(_count(_get(rs, "replicas"), 1))
        return total
    if kind == "InferenceService":
        total = Demand()
        for comp in ISVC_COMPONENTS:
            total = total + _isvc_component(spec.get(comp))
        for canary in spec.get("canary") or []:
            total = total + _isvc_component(_get(canary, "predictor"))
        return total
    if kind == "Notebook":
        if STOPPED_ANNOTATION in (_get(body, "metadata", "annotations") or {}):
            return Demand()
        return pod_demand(_get(spec, "template", "spec"))
    if kind == "SparkApplication":
        return _spark_app(spec)
    if kind == "ScheduledSparkApplication":
        return _spark_app(spec.get("template"))
    if kind == "Experiment" and group == "kubeflow.org":
        trial = _get(spec, "trialTemplate", "trialSpec")
        one = demand(trial) if isinstance(trial, dict) else Demand()
        return one.times(_count(spec.get("parallelTrialCount"), 3))
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return pod_demand(_get(spec, "template", "spec")).times(_count(spec.get("replicas"), 1))
    if kind == "Job":
        return pod_demand(_get(spec, "template", "spec")).times(_count(spec.get("parallelism"), 1))
    if kind == "CronJob":
        job = _get(spec, "jobTemplate", "spec") or {}
        return pod_demand(_get(job, "template", "spec")).times(_count(job.get("parallelism"), 1))
    if kind == "Pod":
        return pod_demand(spec)
    return Demand()


def total_demand(resources: Iterable[Resource]) -> Demand:
    total = Demand()
    for r in resources:
        total = total + demand(r.body)
    return total


# (kind, field path pattern) → what the number counts
REPLICA_FIELDS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("TrainJob", re.compile(r"^spec\.trainer\.numNodes$"), "nodes"),
    ("PyTorchJob", re.compile(r"^spec\.pytorchReplicaSpecs\.\w+\.replicas$"), "replicas"),
    ("InferenceService", re.compile(r"^spec\.(predictor|transformer|explainer)\.(minReplicas|maxReplicas)$"),
     "replicas"),
    ("InferenceService", re.compile(r"^spec\.canary\[[^\]]+\]\.predictor\.(minReplicas|maxReplicas)$"), "replicas"),
    ("Experiment", re.compile(r"^spec\.(parallelTrialCount|maxTrialCount|maxFailedTrialCount)$"), "trials"),
    ("SparkApplication", re.compile(r"^spec\.executor\.instances$"), "executors"),
    ("ScheduledSparkApplication", re.compile(r"^spec\.template\.executor\.instances$"), "executors"),
    ("Deployment", re.compile(r"^spec\.replicas$"), "replicas"),
    ("StatefulSet", re.compile(r"^spec\.replicas$"), "replicas"),
)


@dataclass(frozen=True)
class ReplicaChange:
    id: str
    path: str
    what: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "what": self.what, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class TrafficChange:
    id: str
    canary: str
    before: int | None
    """percent of traffic before; None: no such canary"""
    after: int | None

    @property
    def rollout(self) -> bool:
        """The candidate takes all traffic: no longer a canary but a rollout."""
        return self.after == 100 and self.before != 100

    def describe(self) -> str:
        if self.before is None:
            return f"canary {self.canary} starts at {self.after}% of traffic"
        if self.after is None:
            return f"canary {self.canary} removed (was {self.before}% of traffic)"
        text = f"canary {self.canary}: {self.before}% → {self.after}% of traffic"
        return text + " (the candidate takes all traffic)" if self.rollout else text

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "canary": self.canary, "before": self.before, "after": self.after,
                "rollout": self.rollout}


def canary_traffic(body: dict[str, Any] | None) -> dict[str, int]:
    """Canary name → percent: KServe 0.20's spec.canary[] (Standard) or canaryTrafficPercent (Knative)."""
    if not body or group_kind(body)[1] != "InferenceService":
        return {}
    out: dict[str, int] = {}
    spec = body.get("spec") or {}
    for i, c in enumerate(spec.get("canary") or []):
        name = _get(c, "predictor", "name") or f"canary[{i}]"
        pct = _get(c, "trafficPercent")
        if isinstance(pct, int | float) and not isinstance(pct, bool):
            out[str(name)] = int(pct)
    for comp in ISVC_COMPONENTS:
        pct = _get(spec, comp, "canaryTrafficPercent")
        if isinstance(pct, int | float) and not isinstance(pct, bool):
            out[f"{comp} (latest revision)"] = int(pct)
    return out


@dataclass
class Impact:
    before: Demand = field(default_factory=Demand)
    after: Demand = field(default_factory=Demand)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    replaced: list[tuple[str, str, str]] = field(default_factory=list)
    """(resource id, field path, why)"""
    replicas: list[ReplicaChange] = field(default_factory=list)
    traffic: list[TrafficChange] = field(default_factory=list)
    per_resource: list[tuple[str, Demand, Demand]] = field(default_factory=list)
    """Resources whose demand changed: (id, before, after)."""

    @property
    def rollouts(self) -> list[TrafficChange]:
        return [t for t in self.traffic if t.rollout]

    @property
    def delta(self) -> Demand:
        return self.after - self.before

    def merge(self, o: Impact) -> None:
        self.before = self.before + o.before
        self.after = self.after + o.after
        self.added += o.added
        self.removed += o.removed
        self.changed += o.changed
        self.replaced += o.replaced
        self.replicas += o.replicas
        self.traffic += o.traffic
        self.per_resource += o.per_resource

    def to_json(self) -> dict[str, Any]:
        return {
            "requested": {"before": self.before.to_json(), "after": self.after.to_json(),
                          "delta": self.delta.to_json()},
            "added": self.added, "removed": self.removed, "changed": self.changed,
            "replaced": [{"id": i, "path": p, "why": w} for i, p, w in self.replaced],
            "replicas": [r.to_json() for r in self.replicas],
            "traffic": [t.to_json() for t in self.traffic],
            "rollouts": [t.to_json() for t in self.rollouts],
            "perResource": [{"id": i, "before": b.to_json(), "after": a.to_json()} for i, b, a in self.per_resource],
        }


def _traffic(rid: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> Iterator[TrafficChange]:
    a, b = canary_traffic(before), canary_traffic(after)
    for name in [*b, *(n for n in a if n not in b)]:
        if a.get(name) != b.get(name):
            yield TrafficChange(rid, name, a.get(name), b.get(name))


def impact(before: list[Resource], after: list[Resource], changes: list[ResourceChange]) -> Impact:
    """The impact of going from BEFORE to AFTER; CHANGES is their diff."""
    old = {r.id: r for r in before}
    new = {r.id: r for r in after}
    out = Impact(total_demand(before), total_demand(after))
    for c in changes:
        prev = c.previous or c.id
        b = old[prev].body if prev in old else None
        a = new[c.id].body if c.id in new else None
        {"add": out.added, "remove": out.removed, "change": out.changed}[c.op].append(c.id)
        db = demand(b) if b else Demand()
        da = demand(a) if a else Demand()
        if db != da:
            out.per_resource.append((c.id, db, da))
        out.traffic.extend(_traffic(c.id, b, a))
        if c.previous:
            out.replaced.append((c.id, "metadata.name", f"a new version of {c.previous}, which is pruned"))
        else:
            fixed = [f for f in c.fields if f.immutable]
            if fixed:  # one line per resource: the first immutable field, and how many more
                more = f" (+{len(fixed) - 1} more)" if len(fixed) > 1 else ""
                out.replaced.append((c.id, fixed[0].path + more, str(fixed[0].immutable)))
        for f in c.fields:
            for kind, pattern, what in REPLICA_FIELDS:
                if kind == c.kind and pattern.match(f.path):
                    out.replicas.append(ReplicaChange(c.id, f.path, what, f.before, f.after))
    return out
