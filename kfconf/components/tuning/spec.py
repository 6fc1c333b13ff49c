"""Tuning: a Katib Experiment whose trials are a training entry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kfconf.spec.types import Distribution, Goal, Model, Name, Ref

ALGORITHMS = (
    "random", "tpe", "grid", "multivariate-tpe", "bayesianoptimization", "cmaes", "sobol", "hyperband", "pbt",
    "enas", "darts",
)
Algorithm = Literal[
    "random", "tpe", "grid", "multivariate-tpe", "bayesianoptimization", "cmaes", "sobol", "hyperband", "pbt",
    "enas", "darts",
]


class Objective(Model):
    metric: str = Field(min_length=1)
    goal: Goal
    target: float | None = None
    additional: list[str] = Field(default_factory=list)


class AlgorithmSpec(Model):
    name: Algorithm
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)


class EarlyStopping(Model):
    name: Literal["medianstop"]
    settings: dict[str, str | int | float] = Field(default_factory=dict)


class Parameter(Model):
    type: Literal["int", "double", "categorical", "discrete"]
    min: float | None = None
    max: float | None = None
    step: float | None = Field(None, gt=0)
    values: list[str | int | float] | None = None
    distribution: Distribution | None = None


class Budget(Model):
    trials: int = Field(12, ge=1, le=100_000)
    parallel: int = Field(3, ge=1, le=1000)
    failures: int = Field(3, ge=0)


class MetricsCollector(Model):
    kind: Literal["stdout", "file"] = "stdout"
    path: str | None = Field(None, pattern=r"^/")


class TuningJob(Model):
    name: Name
    trial: Ref
    objective: Objective
    algorithm: AlgorithmSpec
    parameters: dict[str, Parameter] = Field(min_length=1)
    budget: Budget = Field(default_factory=Budget)
    early_stopping: EarlyStopping | None = Field(None, alias="earlyStopping")
    metrics_collector: MetricsCollector = Field(default_factory=MetricsCollector, alias="metricsCollector")
