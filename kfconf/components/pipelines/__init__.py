"""Pipelines slice: KFP IR (kfp-pipeline-spec) in Pipeline and PipelineVersion resources."""

from kfconf.components.base import Component
from kfconf.components.pipelines.spec import Pipeline

COMPONENT = Component(
    key="pipelines",
    model=Pipeline,
    check="kfconf.components.pipelines.checks:check",
    render="kfconf.components.pipelines.render:render",
    health="kfconf.components.pipelines.health:HEALTH",
    rules="kfconf.components.pipelines.rules:RULES",
    local="kfconf.components.pipelines.local:run",
    docs="Kubeflow Pipelines built from the project's entries and plain containers.",
)
