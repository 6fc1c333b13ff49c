"""Health of live Spark Operator objects.

SparkApplication: `status.applicationState.state` (spark-operator api/v1beta2 ApplicationStateType).
A finished run is Healthy (the desired state of a batch job is "ran to completion"); FAILED and
SUBMISSION_FAILED are Degraded; the transient states are Progressing.
ScheduledSparkApplication: `status.scheduleState` (Validating, Scheduled, FailedValidation); a schedule
whose most recent run failed is Degraded, so a broken nightly job does not look green."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kfconf.sync.health_types import HealthStatus

FAILED = frozenset({"FAILED", "SUBMISSION_FAILED"})
SUSPENDED = frozenset({"SUSPENDED", "SUSPENDING"})


def spark_application(obj: Mapping[str, Any]) -> HealthStatus:
    status = obj.get("status") or {}
    app_state = status.get("applicationState") or {}
    state = str(app_state.get("state") or "")
    error = str(app_state.get("errorMessage") or "")
    if state == "COMPLETED":
        return HealthStatus("Healthy", "application completed")
    if state in FAILED:
        what = state.lower().replace("_", " ")
        return HealthStatus("Degraded", f"{what}: {error}" if error else what)
    if state in SUSPENDED or (not state and (obj.get("spec") or {}).get("suspend")):
        return HealthStatus("Suspended", "application is suspended")
    if state == "UNKNOWN":
        return HealthStatus("Unknown", error or "the operator lost track of the driver")
    if not state:
        return HealthStatus("Progressing", "waiting for the Spark Operator to submit the application")
    executors = status.get("executorState") or {}
    running = sum(1 for s in executors.values() if s == "RUNNING")
    detail = f", {running}/{len(executors)} executors running" if executors else ""
    return HealthStatus("Progressing", f"{state.lower().replace('_', ' ')}{detail}")


def scheduled_spark_application(obj: Mapping[str, Any]) -> HealthStatus:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("suspend"):
        return HealthStatus("Suspended", "schedule is suspended")
    state = str(status.get("scheduleState") or "")
    if state == "FailedValidation":
        return HealthStatus("Degraded", f"schedule rejected: {status.get('reason') or 'failed validation'}")
    if state != "Scheduled":
        return HealthStatus("Progressing", "waiting for the Spark Operator to validate the schedule")
    last = status.get("lastRunName")
    if last and last in (status.get("pastFailedRunNames") or []):
        return HealthStatus("Degraded", f"last run {last} failed")
    nxt = status.get("nextRun")
    return HealthStatus("Healthy", f"scheduled, next run {nxt}" if nxt else "scheduled")


HEALTH: dict[str, Callable[[Mapping[str, Any]], HealthStatus]] = {
    "sparkoperator.k8s.io/SparkApplication": spark_application,
    "sparkoperator.k8s.io/ScheduledSparkApplication": scheduled_spark_application,
}
