"""Training slice: TrainJob (Trainer v2) or PyTorchJob (Training Operator v1)."""

from kfconf.components.base import Component
from kfconf.components.training.spec import TrainingJob

COMPONENT = Component(
    key="training",
    model=TrainingJob,
    check="kfconf.components.training.checks:check",
    render="kfconf.components.training.render:render",
    health="kfconf.components.training.health:HEALTH",
    rules="kfconf.components.training.rules:RULES",
    local="kfconf.components.training.local:run",
    docs="Distributed training with Kubeflow Trainer.",
)
