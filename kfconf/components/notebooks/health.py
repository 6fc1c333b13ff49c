"""Health of a live Notebook (kubeflow/notebooks notebook-controller v1).

The controller mirrors its StatefulSet and pod into `status`: `readyReplicas`, `containerState` (the
notebook container's state) and `conditions` (the pod's). A notebook with `kubeflow-resource-stopped` is
scaled to 0 on purpose (by its spec or by the culler): Suspended, not Degraded."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kfconf.sync.health_types import HealthStatus

STOPPED = "kubeflow-resource-stopped"
BROKEN = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
                    "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})


def notebook(obj: Mapping[str, Any]) -> HealthStatus:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return HealthStatus("Progressing", "notebook is being deleted")
    if STOPPED in (meta.get("annotations") or {}):
        return HealthStatus("Suspended", "notebook is stopped")
    if int(status.get("readyReplicas") or 0) >= 1:
        return HealthStatus("Healthy", "notebook server is ready")
    state = status.get("containerState") or {}
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in BROKEN:
        return HealthStatus("Degraded", f"{waiting['reason']}: {waiting.get('message') or ''}".rstrip(": "))
    terminated = state.get("terminated") or {}
    if terminated:
        why = terminated.get("reason") or f"exit code {terminated.get('exitCode')}"
        return HealthStatus("Degraded", f"notebook container terminated: {why}")
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("status") == "False" and cond.get("message"):
            return HealthStatus("Progressing", str(cond["message"]))  # e.g. unschedulable: waiting for a node
    return HealthStatus("Progressing", "waiting for the notebook server to start")


HEALTH: dict[str, Callable[[Mapping[str, Any]], HealthStatus]] = {"kubeflow.org/Notebook": notebook}
