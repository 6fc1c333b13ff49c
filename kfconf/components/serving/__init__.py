"""Serving slice: KServe InferenceService (and a ServingRuntime when the spec defines one)."""

from kfconf.components.base import Component, RefField
from kfconf.components.serving.spec import ServingEntry

COMPONENT = Component(
    key="serving",
    model=ServingEntry,
    refs=(RefField("model", ("registry", "training"), uri_ok=True),),
    check="kfconf.components.serving.checks:check",
    render="kfconf.components.serving.render:render",
    health="kfconf.components.serving.health:HEALTH",
    rules="kfconf.components.serving.rules:RULES",
    local="kfconf.components.serving.local:run",
    docs="Model serving with KServe.",
)
