"""Notebooks: Kubeflow Notebook servers in the profile namespace."""

from __future__ import annotations

from pydantic import Field

from kfconf.spec.types import Env, Model, Name, Placement, Resources, Volume


class NotebookEntry(Model):
    name: Name
    image: str = Field(min_length=1)
    resources: Resources = Field(default_factory=Resources)
    env: Env = Field(default_factory=dict)
    volumes: list[Volume] = Field(default_factory=list)
    pod_defaults: list[Name] = Field(default_factory=list, alias="podDefaults")
    stopped: bool = False
    placement: Placement | None = None

