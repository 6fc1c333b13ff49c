"""Tuning slice: Katib Experiment with a TrainJob trial template."""

from kfconf.components.base import Component, RefField
from kfconf.components.tuning.spec import TuningJob

COMPONENT = Component(
    key="tuning",
    model=TuningJob,
    refs=(RefField("trial", ("training",)),),
    check="kfconf.components.tuning.checks:check",
    render="kfconf.components.tuning.render:render",
    health="kfconf.components.tuning.health:HEALTH",
    rules="kfconf.components.tuning.rules:RULES",
    local="kfconf.components.tuning.local:run",
    name_limit=40,  # Katib's webhook limit on Experiment names
    docs="Hyperparameter tuning with Katib.",
)
