"""Registry: models and versions registered in the Kubeflow Model Registry."""

from __future__ import annotations

from pydantic import Field

from kfconf.spec.types import Model, Name


class ModelFormat(Model):
    name: str = Field(min_length=1)
    version: str | None = None


class RegisteredModel(Model):
    name: Name
    from_: str = Field(alias="from", min_length=1)
    """`training/NAME`, `tuning/NAME` (its best trial) or a storage URI."""
    version: str = Field("v1", min_length=1, max_length=128)
    format: ModelFormat | str = "pytorch"
    description: str = ""
    author: str | None = None
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)
