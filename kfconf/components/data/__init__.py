"""Data slice: Spark jobs → SparkApplication / ScheduledSparkApplication."""

from kfconf.components.base import Component
from kfconf.components.data.spec import DataJob

COMPONENT = Component(
    key="data",
    model=DataJob,
    check="kfconf.components.data.checks:check",
    render="kfconf.components.data.render:render",
    health="kfconf.components.data.health:HEALTH",
    rules="kfconf.components.data.rules:RULES",
    local="kfconf.components.data.local:run",
    docs="Spark data preparation jobs, optionally on a schedule.",
)
