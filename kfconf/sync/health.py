"""Health rules per kind: the component slices' `HEALTH` maps, plus rules for the core kinds.

A component declares `health="module:HEALTH"`, a mapping `Kind` (or `group/Kind`) → function(live
object) → HealthStatus. The registry walks `kfconf.components.REGISTRY` and never names a component.
A kind without a rule is judged generically (kstatus style): a `Ready` condition if there is one,
`observedGeneration` behind `generation` is Progressing, otherwise existing is Healthy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kfconf.sync.health_types import HealthStatus

HealthFn = Callable[[Mapping[str, Any]], HealthStatus]


def conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, Mapping)}


def _cond_message(c: Mapping[str, Any]) -> str:
    return str(c.get("message") or c.get("reason") or "")


def generic(obj: Mapping[str, Any]) -> HealthStatus:
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return HealthStatus("Progressing", "being deleted")
    status = obj.get("status") or {}
    gen, observed = meta.get("generation"), status.get("observedGeneration")
    if gen is not None and observed is not None and observed < gen:
        return HealthStatus("Progressing", f"generation {gen} not yet observed (at {observed})")
    ready = conditions(obj).get("Ready")
    if ready is not None:
        value = ready.get("status")
        if value == "True":
            return HealthStatus("Healthy", _cond_message(ready))
        if value == "False":
            return HealthStatus("Degraded", _cond_message(ready) or "Ready is False")
        return HealthStatus("Progressing", _cond_message(ready) or "Ready is Unknown")
    return HealthStatus("Healthy", "exists")


def _namespace(obj: Mapping[str, Any]) -> HealthStatus:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Terminating":
        return HealthStatus("Progressing", "namespace is terminating")
    return HealthStatus("Healthy", "active")


def _pvc(obj: Mapping[str, Any]) -> HealthStatus:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return HealthStatus("Healthy", "bound")
    if phase == "Lost":
        return HealthStatus("Degraded", "claim lost its volume")
    return HealthStatus("Progressing", f"claim is {phase or 'pending'}")


def _deployment(obj: Mapping[str, Any]) -> HealthStatus:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    gen = (obj.get("metadata") or {}).get("generation")
    if gen is not None and status.get("observedGeneration", -1) < gen:
        return HealthStatus("Progressing", "waiting for the rollout to be observed")
    want = spec.get("replicas", 1)
    progressing = conditions(obj).get("Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return HealthStatus("Degraded", _cond_message(progressing))
    if status.get("updatedReplicas", 0) < want or status.get("availableReplicas", 0) < want:
        return HealthStatus("Progressing", f"{status.get('availableReplicas', 0)}/{want} replicas available")
    return HealthStatus("Healthy", f"{want} replicas available")


def _job(obj: Mapping[str, Any]) -> HealthStatus:
    conds = conditions(obj)
    if conds.get("Failed", {}).get("status") == "True":
        return HealthStatus("Degraded", _cond_message(conds["Failed"]) or "job failed")
    if conds.get("Complete", {}).get("status") == "True":
        return HealthStatus("Healthy", "job complete")
    if (obj.get("spec") or {}).get("suspend"):
        return HealthStatus("Suspended", "job is suspended")
    return HealthStatus("Progressing", "job is running")


def _crd(obj: Mapping[str, Any]) -> HealthStatus:
    conds = conditions(obj)
    if conds.get("NamesAccepted", {}).get("status") == "False":
        return HealthStatus("Degraded", _cond_message(conds["NamesAccepted"]))
    if conds.get("Established", {}).get("status") == "True":
        return HealthStatus("Healthy", "established")
    return HealthStatus("Progressing", "not yet established")


CORE: dict[str, HealthFn] = {
    "Namespace": _namespace,
    "PersistentVolumeClaim": _pvc,
    "apps/Deployment": _deployment,
    "apps/StatefulSet": _deployment,
    "batch/Job": _job,
    "apiextensions.k8s.io/CustomResourceDefinition": _crd,
}


def _overlap(a: str, b: str) -> bool:
    """Two keys judge the same objects: equal, or a bare `Kind` and a `group/Kind` of that kind."""
    if a == b:
        return True
    ga, _, ka = a.rpartition("/")
    gb, _, kb = b.rpartition("/")
    return ka == kb and (not ga or not gb)


@dataclass
class HealthRegistry:
    rules: dict[str, HealthFn] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    """Rule key → the component (or "core") that provided it."""
    missing: list[str] = field(default_factory=list)
    """Components whose declared health module does not exist (their kinds fall back to `generic`)."""

    def add(self, owner: str, health: Mapping[str, HealthFn]) -> None:
        for key, fn in health.items():
            clash = next((k for k in self.rules if _overlap(k, key) and self.owners[k] != owner), None)
            if clash is not None:
                raise ValueError(f"health rule for {key} declared by {owner}, but {self.owners[clash]} already "
                                 f"judges {clash}")
            if not callable(fn):
                raise TypeError(f"health rule for {key} from {owner} is not callable")
            self.rules[key] = fn
            self.owners[key] = owner

    def rule(self, group: str, kind: str) -> HealthFn | None:
        if group and (fn := self.rules.get(f"{group}/{kind}")):
            return fn
        return self.rules.get(kind)

    def status(self, obj: Mapping[str, Any] | None) -> HealthStatus:
        if obj is None:
            return HealthStatus("Unknown", "not found")
        group = str(obj.get("apiVersion") or "").rpartition("/")[0]
        fn = self.rule(group, str(obj.get("kind") or "")) or generic
        try:
            return fn(obj)
        except Exception as e:  # a rule that breaks on an odd object must not stop the syncer
            return HealthStatus("Unknown", f"health rule failed: {type(e).__name__}: {e}")


def build_registry(components: Iterable[Any] | None = None) -> HealthRegistry:
    """Core rules plus every component's HEALTH map (components default to kfconf.components.REGISTRY)."""
    if components is None:
        from kfconf.components import REGISTRY

        components = REGISTRY
    reg = HealthRegistry()
    reg.add("core", CORE)
    for comp in components:
        if not getattr(comp, "health", None):
            continue
        try:
            health = comp.load("health")
        except ModuleNotFoundError as e:
            if e.name != str(comp.health).partition(":")[0]:
                raise  # the module exists but one of its imports is broken: a real bug
            reg.missing.append(comp.key)
            continue
        if health:
            reg.add(comp.key, health)
    return reg
