"""Profile slice: the Kubeflow Profile (namespace, owner, contributors, quota) and PodDefaults."""

from kfconf.components.base import Component
from kfconf.components.profile.spec import ProfileSpec

COMPONENT = Component(
    key="profile",
    model=ProfileSpec,
    many=False,
    required=True,
    check="kfconf.components.profile.checks:check",
    render="kfconf.components.profile.render:render",
    health="kfconf.components.profile.health:HEALTH",
    docs="Kubeflow Profile: the namespace, who may use it, and its quota.",
)
