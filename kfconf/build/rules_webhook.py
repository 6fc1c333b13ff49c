"""Upstream rules that no schema carries: admission webhooks, API-server object validation.

Each rule paraphrases an upstream validator named in shared/notes/kubeflow-apis.md; none is a copy of
upstream code. A rule yields (field path, message) for one object; `check(resource, ctx)` runs the rules
of its kind plus the object-meta rules every kind shares. Here: Kubernetes names, labels and annotations,
and CronJob schedules; each Kubeflow component's webhook rules live in its slice (`components/*/rules.py`,
named by `Component.rules`) and use the helpers below: Katib Experiment (tuning), KServe
InferenceService and InferenceGraph (serving), Trainer TrainJob (training), KFP PipelineVersion and
ScheduledWorkflow (pipelines), SparkApplication and ScheduledSparkApplication (data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kfconf.core.resource import Resource
from kfconf.core.source import PathT, describe
from kfconf.spec.stacks import Stack

Finding = tuple[PathT, str]
Rule = Callable[[dict[str, Any], "RuleContext"], Iterable[Finding]]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass
class RuleContext:
    stack: Stack
    resources: Sequence[Resource] = ()
    names: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(kind, namespace) → names of the objects in this build."""

    @classmethod
    def of(cls, stack: Stack, resources: Sequence[Resource]) -> RuleContext:
        names: dict[tuple[str, str], set[str]] = {}
        for r in resources:
            names.setdefault((r.kind, r.namespace or ""), set()).add(r.name)
        return cls(stack, resources, names)


def get(obj: Any, *path: str | int) -> Any:
    """The value at `path` in a rendered object, or None where the path does not exist."""
    for p in path:
        if isinstance(obj, dict) and isinstance(p, str):
            obj = obj.get(p)
        elif isinstance(obj, list) and isinstance(p, int) and -len(obj) <= p < len(obj):
            obj = obj[p]
        else:
            return None
    return obj


def name_rule(name: Any, pattern: re.Pattern[str], limit: int, what: str) -> Iterator[Finding]:
    """metadata.name present, at most `limit` characters, matching `pattern` (`what` names the rule)."""
    if not isinstance(name, str) or not name:
        yield ("metadata", "name"), "expected a name, got none"
        return
    if len(name) > limit:
        yield ("metadata", "name"), f"expected at most {limit} characters ({what}), got {len(name)}: {name!r}"
    if not pattern.match(name):
        yield ("metadata", "name"), f"expected a {what} ({pattern.pattern}), got {name!r}"


# ---------------------------------------------------------------- Kubernetes object meta (API server)

LABEL_NAME_KINDS = frozenset({"Namespace", "Profile"})
DNS1035_KINDS = frozenset({"Service"})
PATH_SEGMENT_KINDS = frozenset({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})


@lru_cache(maxsize=4096)
def _qualified_key(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"prefix {prefix!r} is not a DNS subdomain"
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        return "name part must be ≤ 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric"
    return None


@lru_cache(maxsize=4096)
def _label_value_ok(v: str) -> bool:
    return len(v) <= 63 and LABEL_VALUE.match(v) is not None


def object_meta(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    kind = str(body.get("kind", ""))
    meta = body.get("metadata") or {}
    name = meta.get("name")
    if kind in PATH_SEGMENT_KINDS:
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "%" in name:
            yield ("metadata", "name"), f"expected a name without '/' or '%', got {describe(name)}"
    elif kind in LABEL_NAME_KINDS:
        yield from name_rule(name, DNS1123_LABEL, 63, "DNS-1123 label")
    elif kind in DNS1035_KINDS:
        yield from name_rule(name, DNS1035_LABEL, 63, "DNS-1035 label")
    else:
        yield from name_rule(name, DNS1123_SUBDOMAIN, 253, "DNS-1123 subdomain")
    ns = meta.get("namespace")
    if ns is not None and (not isinstance(ns, str) or len(ns) > 63 or not DNS1123_LABEL.match(ns)):
        yield ("metadata", "namespace"), f"expected a DNS-1123 label, got {describe(ns)}"
    for k, v in sorted((meta.get("labels") or {}).items()):
        why = _qualified_key(str(k))
        if why:
            yield ("metadata", "labels", k), f"invalid label key: {why}"
        if not (isinstance(v, str) and _label_value_ok(v)):
            yield ("metadata", "labels", k), f"expected a label value (≤ 63 alphanumeric characters, '-', '_' or " \
                                             f"'.', starting and ending alphanumeric), got {describe(v)}"
    total = 0
    for k, v in sorted((meta.get("annotations") or {}).items()):
        why = _qualified_key(str(k))
        if why:
            yield ("metadata", "annotations", k), f"invalid annotation key: {why}"
        total += len(str(k)) + len(str(v))
    if total > 256 * 1024:
        yield ("metadata", "annotations"), f"expected annotations of at most 256 KiB in total, got {total} bytes"


# ---------------------------------------------------------------- schedules (CronJob here; KFP and Spark use them too)


def cron_fields(expr: Any, n: int, path: PathT, what: str) -> Iterator[Finding]:
    """A cron expression of `n` fields (`what` names the dialect), or a descriptor such as @daily."""
    if not isinstance(expr, str):
        return
    if expr.startswith("@"):
        if expr.split()[0] not in ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
                                   "@every"):
            yield path, f"expected a cron descriptor such as @daily or @every 5m, got {expr!r}"
        return
    if len(expr.split()) != n:
        yield path, f"expected a {what} cron expression of {n} fields, got {len(expr.split())}: {expr!r}"


def time_zone(tz: Any, path: PathT) -> Iterator[Finding]:
    """An IANA time zone name (or Local)."""
    if tz is None or tz == "Local":
        return
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        yield path, f"expected an IANA time zone name, got {describe(tz)}"


def cronjob(body: dict[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    yield from name_rule(get(body, "metadata", "name"), DNS1123_SUBDOMAIN, 52, "CronJob name")
    yield from cron_fields(get(body, "spec", "schedule"), 5, ("spec", "schedule"), "standard")
    yield from time_zone(get(body, "spec", "timeZone"), ("spec", "timeZone"))


@lru_cache(maxsize=1)
def rules() -> dict[str, Rule]:
    """"group/Kind" → its rule: the Kubernetes kinds' here, each Kubeflow component's from its slice."""
    from kfconf.components import REGISTRY

    out: dict[str, Rule] = {"batch/CronJob": cronjob}
    for c in REGISTRY:
        out.update(c.load("rules") or {})
    return out


def check(r: Resource, ctx: RuleContext, body: dict[str, Any] | None = None) -> list[Finding]:
    """Every upstream-rule finding of one object (its own kind's rules and the shared object-meta rules)."""
    b = r.body if body is None else body
    out = list(object_meta(b, ctx))
    rule = rules().get(f"{r.group}/{r.kind}")
    if rule is not None:
        out.extend(rule(b, ctx))
    seen: set[Finding] = set()
    return [f for f in out if not (f in seen or seen.add(f))]  # type: ignore[func-returns-value]
