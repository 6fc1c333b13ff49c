"""Health of live pipeline objects: a Pipeline or PipelineVersion that exists is healthy (KFP runs no
controller for them); the schedule's CronJob is healthy unless suspended."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kfconf.sync.health_types import HealthStatus


def exists(obj: dict[str, Any]) -> HealthStatus:
    return HealthStatus("Healthy", "exists")


def cronjob(obj: dict[str, Any]) -> HealthStatus:
    if (obj.get("spec") or {}).get("suspend") is True:
        return HealthStatus("Suspended", "schedule suspended")
    last = (obj.get("status") or {}).get("lastScheduleTime")
    return HealthStatus("Healthy", f"last run started {last}" if last else "scheduled, not run yet")


HEALTH: dict[str, Callable[[dict[str, Any]], HealthStatus]] = {
    "Pipeline": exists,
    "PipelineVersion": exists,
    "CronJob": cronjob,
}
