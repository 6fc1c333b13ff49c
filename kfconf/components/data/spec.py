"""Data preparation: Spark jobs run by the Spark Operator, optionally on a schedule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kfconf.spec.types import Env, Model, Name, Placement, SparkMemory


class Driver(Model):
    cores: int = Field(1, ge=1, le=64)
    memory: SparkMemory = "1g"


class Executors(Model):
    count: int = Field(1, ge=1, le=1000)
    cores: int = Field(1, ge=1, le=64)
    memory: SparkMemory = "1g"


class DataJob(Model):
    name: Name
    engine: Literal["spark"] = "spark"
    file: str = Field(min_length=1)
    args: list[str | int | float] = Field(default_factory=list)
    image: str | None = None
    driver: Driver = Field(default_factory=Driver)
    executors: Executors = Field(default_factory=Executors)
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    env: Env = Field(default_factory=dict)
    schedule: str | None = None
    output: str | None = None
    placement: Placement | None = None

