"""Health of a live Profile.

The Profile controller (kubeflow/dashboard profile_controller.go) never writes a success condition: it
appends `{type: Failed, message}` when a reconcile fails (e.g. the namespace belongs to someone else)
and adds its finalizer `profile-finalizer` at the end of a reconcile that got through. Failed conditions
are never removed, so the finalizer is the sign of a later success."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kfconf.sync.health_types import HealthStatus

FINALIZER = "profile-finalizer"


def profile(obj: Mapping[str, Any]) -> HealthStatus:
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return HealthStatus("Progressing", "profile is being deleted")
    failed = [c for c in (obj.get("status") or {}).get("conditions") or []
              if isinstance(c, Mapping) and c.get("type") == "Failed"]
    if FINALIZER in (meta.get("finalizers") or []):
        return HealthStatus("Healthy", "namespace, service accounts and owner binding reconciled")
    if failed:
        return HealthStatus("Degraded", str(failed[-1].get("message") or "profile reconcile failed"))
    return HealthStatus("Progressing", "waiting for the profile controller")


HEALTH: dict[str, Callable[[Mapping[str, Any]], HealthStatus]] = {"kubeflow.org/Profile": profile}
