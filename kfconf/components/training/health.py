"""Health of live training objects: a TrainJob has Complete/Failed conditions (no Ready); a PyTorchJob
has Succeeded/Failed; a TrainingRuntime that exists is healthy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kfconf.sync.health_types import HealthStatus


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The condition of that type whose status is True, or None."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and str(c.get("status")) == "True":
            return dict(c)
    return None


def _said(c: dict[str, Any]) -> str:
    return ": ".join(x for x in (c.get("reason"), c.get("message")) if x) or str(c.get("type"))


def finished(obj: dict[str, Any], ok: str, failed: str, running: str) -> HealthStatus:
    """Shared by run-to-completion kinds: `ok` → Healthy, `failed` → Degraded, suspended → Suspended."""
    if (c := condition(obj, failed)) is not None:
        return HealthStatus("Degraded", _said(c))
    if (c := condition(obj, ok)) is not None:
        return HealthStatus("Healthy", _said(c))
    if (c := condition(obj, "Suspended")) is not None or (obj.get("spec") or {}).get("suspend") is True:
        return HealthStatus("Suspended", _said(c) if c else "suspended (waiting for admission)")
    return HealthStatus("Progressing", running)


def trainjob(obj: dict[str, Any]) -> HealthStatus:
    return finished(obj, "Complete", "Failed", "training")


def pytorchjob(obj: dict[str, Any]) -> HealthStatus:
    if (obj.get("spec") or {}).get("runPolicy", {}).get("suspend") is True and condition(obj, "Succeeded") is None \
            and condition(obj, "Failed") is None:
        return HealthStatus("Suspended", "suspended (waiting for admission)")
    return finished(obj, "Succeeded", "Failed", "training")


def exists(obj: dict[str, Any]) -> HealthStatus:
    return HealthStatus("Healthy", "exists")


HEALTH: dict[str, Callable[[dict[str, Any]], HealthStatus]] = {
    "TrainJob": trainjob,
    "PyTorchJob": pytorchjob,
    "TrainingRuntime": exists,
}
