"""Health of a live Katib Experiment: Succeeded → Healthy, Failed → Degraded, else Progressing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kfconf.components.training.health import finished
from kfconf.sync.health_types import HealthStatus


def experiment(obj: dict[str, Any]) -> HealthStatus:
    status = finished(obj, "Succeeded", "Failed", "tuning")
    if status.state == "Progressing":
        st = obj.get("status") or {}
        done = st.get("trialsSucceeded", 0)
        return HealthStatus("Progressing", f"tuning: {done} of {obj.get('spec', {}).get('maxTrialCount', '?')} "
                            f"trials succeeded, {st.get('trialsRunning', 0)} running")
    return status


HEALTH: dict[str, Callable[[dict[str, Any]], HealthStatus]] = {"Experiment": experiment}
