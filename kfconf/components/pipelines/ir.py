"""KFP pipeline IR (`PipelineSpec`, schemaVersion 2.1.0) built with the official `kfp-pipeline-spec`
protobufs, so a field that does not exist in KFP 2.17 cannot be written; serialized with
`json_format.MessageToDict` (protojson camelCase, as the KFP SDK writes it).

The protobuf modules load only here, when a project has pipelines (`kfconf validate` never pays for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "2.1.0"


@dataclass
class Executor:
    """One container the pipeline runs: its image, command, args, literal env and resources."""

    image: str
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    """resourceCpuRequest/Limit, resourceMemoryRequest/Limit (strings) and accelerator {resourceType, resourceCount}."""
    platform: dict[str, Any] = field(default_factory=dict)
    """Kubernetes executor config (secretAsEnv, configMapAsEnv, …) for the platform spec."""


@dataclass
class Task:
    name: str
    executor: Executor
    after: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    """Constant input parameters (value → its KFP type)."""
    pipeline_inputs: list[str] = field(default_factory=list)
    """Root parameters passed through to this task under the same name."""


def parameter_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "NUMBER_INTEGER"
    if isinstance(value, float):
        return "NUMBER_DOUBLE"
    if isinstance(value, dict):
        return "STRUCT"
    if isinstance(value, list):
        return "LIST"
    return "STRING"


def build(name: str, description: str, sdk_version: str, parameters: dict[str, Any], tasks: list[Task]
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pipeline spec, platform spec or {}) as JSON-ready dicts."""
    from google.protobuf import json_format, struct_pb2
    from kfp.pipeline_spec import pipeline_spec_pb2 as pb

    spec = pb.PipelineSpec()
    spec.pipeline_info.name = name
    if description:
        spec.pipeline_info.description = description
    spec.schema_version = SCHEMA_VERSION
    spec.sdk_version = sdk_version
    for pname, default in parameters.items():
        p = spec.root.input_definitions.parameters[pname]
        p.parameter_type = pb.ParameterType.ParameterTypeEnum.Value(parameter_type(default))
        p.default_value.CopyFrom(_value(default, struct_pb2))
        p.is_optional = True

    deployment = pb.PipelineDeploymentConfig()
    platform: dict[str, Any] = {}
    for task in tasks:
        comp_name, exec_name = f"comp-{task.name}", f"exec-{task.name}"
        comp = spec.components[comp_name]
        comp.executor_label = exec_name
        t = spec.root.dag.tasks[task.name]
        t.task_info.name = task.name
        t.component_ref.name = comp_name
        t.dependent_tasks.extend(task.after)
        # steps act on the cluster (create jobs, deploy models): a cached result would skip the action
        t.caching_options.enable_cache = False
        for pname in task.pipeline_inputs:
            comp.input_definitions.parameters[pname].parameter_type = \
                spec.root.input_definitions.parameters[pname].parameter_type
            t.inputs.parameters[pname].component_input_parameter = pname
        for pname, value in task.inputs.items():
            comp.input_definitions.parameters[pname].parameter_type = \
                pb.ParameterType.ParameterTypeEnum.Value(parameter_type(value))
            t.inputs.parameters[pname].runtime_value.constant.CopyFrom(_value(value, struct_pb2))
        ex = task.executor
        c = deployment.executors[exec_name].container
        c.image = ex.image
        c.command.extend(ex.command)
        c.args.extend(ex.args)
        for k, v in ex.env.items():
            c.env.add(name=k, value=v)
        res = ex.resources
        for key in ("resourceCpuLimit", "resourceMemoryLimit", "resourceCpuRequest", "resourceMemoryRequest"):
            if key in res:
                setattr(c.resources, _snake(key), res[key])
        if "accelerator" in res:
            c.resources.accelerator.resource_type = res["accelerator"]["resourceType"]
            c.resources.accelerator.resource_count = res["accelerator"]["resourceCount"]
        if ex.platform:
            platform[exec_name] = ex.platform
    spec.deployment_spec.update(json_format.MessageToDict(deployment))
    ir = json_format.MessageToDict(spec)
    platform_spec: dict[str, Any] = {}
    if platform:
        ps = pb.PlatformSpec()
        ps.platforms["kubernetes"].deployment_spec.executors  # noqa: B018 - creates the entry
        for exec_name, cfg in platform.items():
            ps.platforms["kubernetes"].deployment_spec.executors[exec_name].update(cfg)
        platform_spec = json_format.MessageToDict(ps)
    return ir, platform_spec


def _snake(camel: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in camel)


def _value(value: Any, struct_pb2: Any) -> Any:
    v = struct_pb2.Value()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int | float):
        v.number_value = value
    elif isinstance(value, dict):
        v.struct_value.update(value)
    elif isinstance(value, list):
        v.list_value.extend(value)
    else:
        v.string_value = str(value)
    return v
