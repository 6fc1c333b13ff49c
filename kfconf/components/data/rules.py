"""Spark Operator SparkApplication and ScheduledSparkApplication: the rules of its webhook
(internal/webhook), over the rendered object (KF402, kfconf.build.rules_webhook)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kfconf.build.rules_webhook import DNS1035_LABEL, Finding, Rule, RuleContext, cron_fields, get, name_rule, time_zone
from kfconf.core.source import PathT, describe

FORBIDDEN_SPARK_CONF = ("spark.master", "spark.kubernetes.driver.master", "spark.kubernetes.container.image",
                        "spark.kubernetes.driver.container.image", "spark.kubernetes.executor.container.image")
FORBIDDEN_SPARK_PREFIXES = ("spark.kubernetes.authenticate.",)


def _spark_spec(spec: Any, ns: str, path: PathT) -> Iterator[Finding]:
    if not isinstance(spec, dict):
        return
    for k, v in sorted((spec.get("sparkConf") or {}).items()):
        if k in FORBIDDEN_SPARK_CONF or k.startswith(FORBIDDEN_SPARK_PREFIXES):
            yield (*path, "sparkConf", k), "is set by the Spark operator and must not be in sparkConf"
        if k == "spark.kubernetes.namespace" and v != ns:
            yield (*path, "sparkConf", k), f"expected the application's namespace {ns!r}, got {describe(v)}"
    if spec.get("nodeSelector") and (get(spec, "driver", "nodeSelector") or get(spec, "executor", "nodeSelector")):
        yield (*path, "nodeSelector"), "expected nodeSelector on the application or on driver/executor, not both"
    if get(spec, "driver", "template") is not None or get(spec, "executor", "template") is not None:
        version = str(spec.get("sparkVersion", ""))
        major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
        if major < 3:
            yield (*path, "sparkVersion"), f"pod templates need Spark ≥ 3.0.0, got {describe(spec.get('sparkVersion'))}"


def spark_application(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from name_rule(get(body, "metadata", "name"), DNS1035_LABEL, 63, "DNS-1035 label")
    yield from _spark_spec(body.get("spec"), get(body, "metadata", "namespace") or "", ("spec",))


def scheduled_spark_application(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from name_rule(get(body, "metadata", "name"), DNS1035_LABEL, 63, "DNS-1035 label")
    spec = body.get("spec") or {}
    yield from cron_fields(spec.get("schedule"), 5, ("spec", "schedule"), "standard")
    yield from time_zone(spec.get("timeZone"), ("spec", "timeZone"))
    yield from _spark_spec(spec.get("template"), get(body, "metadata", "namespace") or "", ("spec", "template"))
RULES: dict[str, Rule] = {
    "sparkoperator.k8s.io/SparkApplication": spark_application,
    "sparkoperator.k8s.io/ScheduledSparkApplication": scheduled_spark_application,
}
