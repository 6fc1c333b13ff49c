"""The registry of Kubeflow components. Adding a component: one folder here and one line below."""

from __future__ import annotations

from kfconf.components import data, notebooks, pipelines, profile, registry, serving, training, tuning
from kfconf.components.base import Component

REGISTRY: tuple[Component, ...] = (
    profile.COMPONENT,
    data.COMPONENT,
    training.COMPONENT,
    tuning.COMPONENT,
    registry.COMPONENT,
    serving.COMPONENT,
    pipelines.COMPONENT,
    notebooks.COMPONENT,
)

BY_KEY: dict[str, Component] = {c.key: c for c in REGISTRY}
