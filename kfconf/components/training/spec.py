"""Training: a Kubeflow Trainer TrainJob (PyTorchJob on the legacy stack)."""

from __future__ import annotations

from pydantic import Field

from kfconf.spec.types import Env, Model, Name, Placement, Resources, Volume


class Initializer(Model):
    """A dataset or model fetched before training (hf://, s3://, cache://)."""

    uri: str = Field(min_length=1, max_length=2048)
    secret: Name | None = None


class TrainingJob(Model):
    name: Name
    runtime: str = "torch-distributed"
    image: str | None = None
    command: list[str] = Field(default_factory=list)
    args: dict[str, str | int | float | bool] | list[str] = Field(default_factory=dict)
    nodes: int = Field(1, ge=1, le=1024)
    procs_per_node: int = Field(1, ge=1, le=128, alias="procsPerNode")
    resources: Resources = Field(default_factory=Resources)
    dataset: Initializer | None = None
    model: Initializer | None = None
    env: Env = Field(default_factory=dict)
    volumes: list[Volume] = Field(default_factory=list)
    output: str | None = None
    timeout_seconds: int | None = Field(None, ge=1, alias="timeoutSeconds")
    queue: Name | None = None
    placement: Placement | None = None

