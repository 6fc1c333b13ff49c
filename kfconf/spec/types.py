"""Field types shared by the component models: names, references, quantities, resources, env."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # at most 63 characters
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
SPARK_MEMORY = re.compile(r"^[0-9]+[kmgtpKMGTP]?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COMPONENT_KEYS = ("data", "training", "tuning", "registry", "serving", "pipelines", "notebooks")


class Model(BaseModel):
    """Base of every spec model: closed (unknown keys are errors), camelCase keys, immutable."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True, strict=False,
        allow_inf_nan=False,
    )


def _quantity(value: Any) -> str:
    if isinstance(value, bool):
        raise PydanticCustomError("KF103", "expected a quantity such as 2, 500m or 4Gi, got {v}", {"v": value})
    if isinstance(value, int | float):
        if value < 0:
            raise PydanticCustomError("KF104", "expected a quantity ≥ 0, got {v}", {"v": value})
        return str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))
    if isinstance(value, str) and QUANTITY.match(value):
        return value
    raise PydanticCustomError("KF108", "expected a quantity such as 2, 500m or 4Gi, got {v}", {"v": repr(value)})


def _spark_memory(value: Any) -> str:
    if isinstance(value, str) and SPARK_MEMORY.match(value):
        return value
    raise PydanticCustomError("KF108", "expected a JVM memory size such as 512m or 4g, got {v}", {"v": repr(value)})


def _ref(value: str) -> str:
    kind, _, name = value.partition("/")
    if kind not in COMPONENT_KEYS or not name or "/" in name:
        raise PydanticCustomError(
            "KF108", "expected a reference SECTION/NAME such as training/churn-model, got {v}", {"v": repr(value)}
        )
    return value


# Names and emails are plain patterns, which pydantic checks in Rust (no Python call per value, and editors
# get the pattern); validate.PATTERN_MESSAGES words their errors.
Name = Annotated[str, StringConstraints(pattern=DNS_LABEL.pattern)]
# Numbers are quantities too (`cpu: 4`): the editor schema must say so, since the validator converts them.
Quantity = Annotated[str, BeforeValidator(_quantity),
                     WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]})]
SparkMemory = Annotated[str, BeforeValidator(_spark_memory)]
Email = Annotated[str, StringConstraints(pattern=EMAIL.pattern)]
Ref = Annotated[str, AfterValidator(_ref)]
"""A reference to another entry of the project: `training/churn-model`, `registry/churn`."""


def is_uri(value: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://.+$", value))


class ResourceLimits(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Model):
    """Per-process (per node) compute. Requests equal limits unless `limits` says otherwise."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: int = Field(0, ge=0, le=64)
    limits: ResourceLimits | None = None


class SecretRef(Model):
    """A value taken from a Kubernetes Secret: never a literal."""

    secret: Name
    key: str = Field(min_length=1)


class ConfigMapRef(Model):
    config_map: Name = Field(alias="configMap")
    key: str = Field(min_length=1)


EnvValue = str | int | float | bool | SecretRef | ConfigMapRef
Env = dict[str, EnvValue]


class Volume(Model):
    """A volume mounted into the workload: exactly one source."""

    name: Name
    mount_path: str = Field(alias="mountPath", pattern=r"^/")
    claim: Name | None = None
    config_map: Name | None = Field(None, alias="configMap")
    secret: Name | None = None
    empty_dir: bool | None = Field(None, alias="emptyDir")
    read_only: bool = Field(False, alias="readOnly")

    def source_count(self) -> int:
        return sum(x is not None and x is not False for x in (self.claim, self.config_map, self.secret, self.empty_dir))


Distribution = Literal["uniform", "logUniform", "normal", "logNormal"]
Goal = Literal["maximize", "minimize"]


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class Placement(Model):
    """Where pods may run: node labels they need and taints they tolerate."""

    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    tolerations: list[Toleration] = Field(default_factory=list)
    priority_class: str | None = Field(None, alias="priorityClass")
