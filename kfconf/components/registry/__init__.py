"""Registry slice: models and versions in the Kubeflow Model Registry (a registration Job)."""

from kfconf.components.base import Component, RefField
from kfconf.components.registry.spec import RegisteredModel

COMPONENT = Component(
    key="registry",
    model=RegisteredModel,
    refs=(RefField("from", ("training", "tuning"), uri_ok=True),),
    check="kfconf.components.registry.checks:check",
    render="kfconf.components.registry.render:render",
    health="kfconf.components.registry.health:HEALTH",
    local="kfconf.components.registry.local:run",
    docs="Registered models and versions in the Model Registry.",
)
