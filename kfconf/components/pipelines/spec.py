"""Pipelines: a DAG of steps that run the project's own entries or plain containers."""

from __future__ import annotations

from pydantic import Field

from kfconf.spec.types import Env, Model, Name, Resources


class ContainerStep(Model):
    image: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)


class Step(Model):
    name: Name
    run: str | None = None
    """A reference to an entry: `data/NAME`, `training/NAME`, `tuning/NAME`, `registry/NAME`, `serving/NAME`."""
    container: ContainerStep | None = None
    after: list[Name] = Field(default_factory=list)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)


class Pipeline(Model):
    name: Name
    description: str = ""
    default: bool = False
    schedule: str | None = None
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
