"""Health of a live InferenceService (KServe v1beta1).

`Ready` True is Healthy. `Ready` False is normal while a rollout or a scale-up is under way, so it is
Progressing unless KServe says the model cannot come up: `status.modelStatus.transitionStatus`
BlockedByFailedLoad or InvalidSpec, an active model state FailedToLoad, or a failed Knative revision."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kfconf.sync.health_types import HealthStatus

BLOCKED = frozenset({"BlockedByFailedLoad", "InvalidSpec"})
FAILED_REASONS = frozenset({"RevisionFailed", "RevisionMissing", "InvalidSpec"})


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}


def inference_service(obj: Mapping[str, Any]) -> HealthStatus:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return HealthStatus("Progressing", "inference service is being deleted")
    gen, observed = meta.get("generation"), status.get("observedGeneration")
    if gen is not None and observed is not None and observed < gen:
        return HealthStatus("Progressing", f"generation {gen} not yet observed (at {observed})")
    model = status.get("modelStatus") or {}
    failure = (model.get("lastFailureInfo") or {}).get("message") or ""
    if model.get("transitionStatus") in BLOCKED or (model.get("states") or {}).get("activeModelState") == \
            "FailedToLoad":
        return HealthStatus("Degraded", f"model cannot be served ({model.get('transitionStatus')})"
                            + (f": {failure}" if failure else ""))
    conds = _conditions(status)
    ready = conds.get("Ready")
    if ready is None:
        return HealthStatus("Progressing", "waiting for KServe to report readiness")
    message = str(ready.get("message") or ready.get("reason") or "")
    if ready.get("status") == "True":
        url = status.get("url")
        return HealthStatus("Healthy", f"ready at {url}" if url else "ready")
    for cond in conds.values():
        if cond.get("status") == "False" and cond.get("reason") in FAILED_REASONS:
            return HealthStatus("Degraded", str(cond.get("message") or cond.get("reason")))
    return HealthStatus("Progressing", message or "not ready yet")


HEALTH: dict[str, Callable[[Mapping[str, Any]], HealthStatus]] = {
    "serving.kserve.io/InferenceService": inference_service,
}
