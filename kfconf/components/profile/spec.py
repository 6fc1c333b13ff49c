"""The project's Kubeflow Profile: its namespace, who may use it, and its quota."""

from __future__ import annotations

from pydantic import Field

from kfconf.spec.types import Email, Model, Name, Quantity


class Quota(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: int | None = Field(None, ge=0)
    storage: Quantity | None = None
    pvcs: int | None = Field(None, ge=0)


class PodDefaultSpec(Model):
    """A PodDefault offered to the profile's notebooks and pods (selected by the label NAME: "true")."""

    name: Name
    description: str = ""
    env: dict[str, str | int | float | bool] = Field(default_factory=dict)
    secret_volumes: dict[str, str] = Field(default_factory=dict, alias="secretVolumes")


class ProfileSpec(Model):
    namespace: Name
    owner: Email | None = None
    contributors: list[Email] = Field(default_factory=list)
    quota: Quota | None = None
    pod_defaults: list[PodDefaultSpec] = Field(default_factory=list, alias="podDefaults")
