"""Notebooks slice: Kubeflow Notebook servers."""

from kfconf.components.base import Component
from kfconf.components.notebooks.spec import NotebookEntry

COMPONENT = Component(
    key="notebooks",
    model=NotebookEntry,
    check="kfconf.components.notebooks.checks:check",
    render="kfconf.components.notebooks.render:render",
    health="kfconf.components.notebooks.health:HEALTH",
    docs="Jupyter notebook servers.",
)
