"""KFP PipelineVersion and ScheduledWorkflow: the rules of the API server and its webhook
(backend/src/apiserver/webhook), over the rendered object (KF402, kfconf.build.rules_webhook)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kfconf.build.rules_webhook import Finding, Rule, RuleContext, cron_fields, get
from kfconf.core.source import describe

PIPELINE_INFO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


def _proto_errors(value: Any, message: str) -> str | None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        json_format.ParseDict(value, getattr(pipeline_spec_pb2, message)())
    except (json_format.ParseError, TypeError, ValueError) as e:
        return str(e).splitlines()[0]
    return None


def pipeline_version(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    spec = body.get("spec") or {}
    ns = get(body, "metadata", "namespace") or ""
    pname = spec.get("pipelineName")
    if pname is not None and pname not in ctx.names.get(("Pipeline", ns), set()):
        yield ("spec", "pipelineName"), f"expected a Pipeline {pname!r} in namespace {ns!r} in this build"
    ir = spec.get("pipelineSpec")
    if isinstance(ir, dict):
        err = _proto_errors(ir, "PipelineSpec")
        if err:
            yield ("spec", "pipelineSpec"), f"expected a pipeline IR the KFP API can parse, got: {err}"
        name = get(ir, "pipelineInfo", "name")
        if not isinstance(name, str) or not PIPELINE_INFO_NAME.match(name):
            yield ("spec", "pipelineSpec", "pipelineInfo", "name"), \
                f"expected {PIPELINE_INFO_NAME.pattern}, got {describe(name)}"
    plat = spec.get("platformSpec")
    if isinstance(plat, dict):
        err = _proto_errors(plat, "PlatformSpec")
        if err:
            yield ("spec", "platformSpec"), f"expected a platform spec the KFP API can parse, got: {err}"
    vn = spec.get("versionName")
    if vn is not None and (len(str(vn)) > 253 or not re.match(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", str(vn))):
        yield ("spec", "versionName"), f"expected a DNS-1123 subdomain, got {describe(vn)}"


def scheduled_workflow(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    cron = get(body, "spec", "trigger", "cronSchedule", "cron")
    yield from cron_fields(cron, 6, ("spec", "trigger", "cronSchedule", "cron"), "KFP (seconds first)")
    mc = get(body, "spec", "maxConcurrency")
    if isinstance(mc, int) and not 1 <= mc <= 10:
        yield ("spec", "maxConcurrency"), f"expected 1–10, got {mc}"
RULES: dict[str, Rule] = {
    "pipelines.kubeflow.org/PipelineVersion": pipeline_version,
    "kubeflow.org/ScheduledWorkflow": scheduled_workflow,
}
