"""Serving: a KServe InferenceService, with canary, transformer and explainer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kfconf.spec.types import Env, Model, Name, Placement, Resources

Protocol = Literal["v1", "v2", "grpc-v1", "grpc-v2"]


class Replicas(Model):
    min: int = Field(1, ge=0, le=1000)
    max: int = Field(1, ge=0, le=1000)


class Autoscaling(Model):
    metric: Literal["cpu", "memory", "concurrency", "rps"] = "cpu"
    target: int = Field(80, ge=1)


class Canary(Model):
    percent: int = Field(ge=0, le=100)
    model: str | None = None
    """The candidate model (reference or URI); by default the stable model's newest version."""


class Container(Model):
    image: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)


class Explainer(Model):
    type: Literal["art"] = "art"
    config: dict[str, str] = Field(default_factory=dict)
    image: str | None = None


class ServingRuntimeSpec(Model):
    """A project ServingRuntime, for a model server the stack does not ship."""

    image: str = Field(min_length=1)
    formats: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    protocols: list[Protocol] = Field(default_factory=lambda: list[Protocol](["v2"]))


class ServingEntry(Model):
    name: Name
    model: str = Field(min_length=1)
    """`registry/NAME`, `training/NAME` or a storage URI (s3://, gs://, hf://, pvc://, oci:// …)."""
    format: str | None = None
    runtime: str | None = None
    custom_runtime: ServingRuntimeSpec | None = Field(None, alias="customRuntime")
    protocol: Literal["v1", "v2", "grpc-v1", "grpc-v2"] | None = None
    replicas: Replicas = Field(default_factory=Replicas)
    autoscaling: Autoscaling | None = None
    resources: Resources = Field(default_factory=Resources)
    env: Env = Field(default_factory=dict)
    canary: Canary | None = None
    transformer: Container | None = None
    explainer: Explainer | None = None
    deployment_mode: Literal["Standard", "Knative"] | None = Field(None, alias="deploymentMode")
    placement: Placement | None = None

