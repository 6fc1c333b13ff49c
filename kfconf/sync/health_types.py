"""The health of one live object, as the sync health rules report it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HealthState = Literal["Healthy", "Progressing", "Degraded", "Unknown", "Suspended"]


@dataclass(frozen=True, slots=True)
class HealthStatus:
    state: HealthState
    message: str
