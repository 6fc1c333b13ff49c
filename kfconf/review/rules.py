"""Built-in policy rules. Each has a stable code, a name, a one-line rationale and its options.

A rule sees the resolved spec of one environment (the Project, whose source map points at the
overlay line that set a value) and the resources rendered from it, and reports at the SPEC line
that caused a finding, never at a generated resource. Rules name no component: they walk the
typed model, the raw resolved document and the rendered bodies generically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from kfconf.core.errors import Severity
from kfconf.core.resource import Resource
from kfconf.core.source import Loc, PathT, fmt_path
from kfconf.review.impact import Demand, demand
from kfconf.review.quantity import fmt_cpu, fmt_gpu, fmt_memory, quantity
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack
from kfconf.spec.types import Resources


@dataclass(frozen=True)
class Finding:
    code: str
    rule: str
    """The rule's name (built-in) or id (custom)."""
    message: str
    loc: Loc | None = None
    path: PathT = ()
    severity: Severity = Severity.ERROR
    resource: str = ""
    """The generated resource concerned (Kind/ns/name), when there is one."""
    entry: str = ""
    """The spec entry concerned (section/name), when there is one."""
    hint: str | None = None


@dataclass
class RuleContext:
    project: Project
    stack: Stack
    env: str | None
    resources: list[Resource]
    production: bool
    options: dict[str, Any] = field(default_factory=dict)

    def loc(self, path: PathT) -> Loc:
        return self.project.loc(path)

    def entry_of(self, path: PathT) -> str:
        """`serving/churn` for any path inside spec.serving[i]."""
        if len(path) >= 3 and path[0] == "spec" and isinstance(path[2], int):
            items = self.project.raw.get("spec", {}).get(path[1])
            if isinstance(items, list) and path[2] < len(items) and isinstance(items[path[2]], dict):
                return f"{path[1]}/{items[path[2]].get('name', path[2])}"
        return ""


RuleFn = Callable[[RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    rationale: str
    fn: RuleFn
    severity: Severity = Severity.ERROR
    production_only: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    """Option name → default; the policy file may set them per environment."""


# ----------------------------------------------------------------------------------------------- helpers

def walk_raw(value: Any, path: PathT) -> Iterator[tuple[PathT, Any]]:
    """Every (path, value) of the resolved document below PATH."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk_raw(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_raw(v, (*path, i))


def walk_model(obj: Any, path: PathT) -> Iterator[tuple[PathT, Any]]:
    """Every (path, value) of the validated model, with the spec's own key names (aliases)."""
    yield path, obj
    if isinstance(obj, BaseModel):
        for name, f in type(obj).model_fields.items():
            yield from walk_model(getattr(obj, name), (*path, f.alias or name))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk_model(v, (*path, k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from walk_model(v, (*path, i))


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """'ghcr.io/a/b:1.2@sha256:…' → ('ghcr.io/a/b', '1.2', 'sha256:…')."""
    name, _, digest = ref.partition("@")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest or None


@dataclass(frozen=True)
class ImageUse:
    ref: str
    """The full reference the cluster pulls."""
    path: PathT
    """Where the spec says it: spec.images.NAME, or the `image:` line of an entry."""
    via: str = ""
    """'' (written in the spec), or 'stack STACK' when a name resolves to a stack image."""


def image_uses(ctx: RuleContext) -> list[ImageUse]:
    """Every image the spec chooses, once per place it is defined. Images the stack supplies on its own
    (initializers, the registrar) are the platform's choice, not the project's, and are not listed."""
    spec = ctx.project.raw.get("spec", {}) if isinstance(ctx.project.raw, dict) else {}
    named = spec.get("images") if isinstance(spec.get("images"), dict) else {}
    out: list[ImageUse] = []
    for name, ref in named.items():
        if isinstance(ref, str):
            out.append(ImageUse(ref, ("spec", "images", name)))
    for path, value in walk_raw(spec, ("spec",)):
        if not path or path[-1] != "image" or not isinstance(value, str) or path[:2] == ("spec", "images"):
            continue
        if value in named:
            continue  # reported where the name is defined
        if "/" in value or ":" in value or "@" in value:
            out.append(ImageUse(value, path))
            continue
        for key, ref in ctx.stack.images.items():
            if key == value or key.endswith(":" + value):
                out.append(ImageUse(ref, path, f"stack {ctx.stack.name}"))
                break
    return out


def _mention(use: ImageUse) -> str:
    return f"{use.ref} (the stack's image for this name)" if use.via else use.ref


# ------------------------------------------------------------------------------------------------- rules

def image_digest(ctx: RuleContext) -> Iterator[Finding]:
    for use in image_uses(ctx):
        if split_image(use.ref)[2] is None:
            yield Finding("KF510", "image-digest", f"expected an image pinned by digest (@sha256:…) in "
                          f"production, got {_mention(use)}", ctx.loc(use.path), use.path, entry=ctx.entry_of(use.path),
                          hint="pin it in this environment's overlay, e.g. spec.images.NAME: REPO@sha256:DIGEST")


def image_tag(ctx: RuleContext) -> Iterator[Finding]:
    for use in image_uses(ctx):
        _, tag, digest = split_image(use.ref)
        if digest is None and (tag is None or tag == "latest"):
            what = "the :latest tag" if tag == "latest" else "no tag (which means :latest)"
            yield Finding("KF511", "image-tag", f"expected an image with a fixed version tag or digest, got "
                          f"{_mention(use)} with {what}", ctx.loc(use.path), use.path, entry=ctx.entry_of(use.path),
                          hint="a moving tag makes two deploys of one commit run different code")


def requests_limits(ctx: RuleContext) -> Iterator[Finding]:
    require = [str(x) for x in ctx.options.get("require", ["cpu", "memory"])]
    for path, value in walk_model(ctx.project.model.spec, ("spec",)):
        if not isinstance(value, Resources):
            continue
        missing = [k for k in require if getattr(value, k, None) is None]
        if missing:
            exact = ctx.project.source.exact(path)
            where = path if exact is not None else path[:-1]
            yield Finding("KF512", "requests-limits", f"expected compute requests and limits for "
                          f"{' and '.join(missing)}, got none", ctx.loc(where), path, entry=ctx.entry_of(path),
                          hint=f"set {fmt_path(path)}: {{{', '.join(f'{k}: …' for k in require)}}} "
                          "(limits equal requests unless `limits` says otherwise)")


def _quota_breakdown(ctx: RuleContext, attr: str, fmt: Callable[[Decimal], str]) -> str:
    parts = []
    for r in ctx.resources:
        v = getattr(demand(r.body), attr)
        if v:
            parts.append((v, f"{r.id} {fmt(v)}"))
    parts.sort(key=lambda p: (-p[0], p[1]))
    shown = ", ".join(p[1] for p in parts[:5])
    return shown + (f", … {len(parts) - 5} more" if len(parts) > 5 else "")


def _total(ctx: RuleContext) -> Demand:
    total = Demand()
    for r in ctx.resources:
        total = total + demand(r.body)
    return total


def gpu_quota(ctx: RuleContext) -> Iterator[Finding]:
    quota = ctx.project.model.section("profile").quota
    if quota is None or quota.gpu is None:
        return
    total = _total(ctx).gpu
    if total > quota.gpu:
        path = ("spec", "profile", "quota", "gpu")
        yield Finding("KF513", "gpu-quota", f"expected at most {quota.gpu} GPUs (the profile quota), got "
                      f"{fmt_gpu(total)} requested when every workload runs at full parallelism: "
                      f"{_quota_breakdown(ctx, 'gpu', fmt_gpu)}", ctx.loc(path), path,
                      hint="raise the quota, or lower nodes, tuning parallelism or replicas; pods over the quota "
                      "are refused by the API server")


def cpu_memory_quota(ctx: RuleContext) -> Iterator[Finding]:
    quota = ctx.project.model.section("profile").quota
    if quota is None:
        return
    total = _total(ctx)
    for key, have, fmt in (("cpu", total.cpu, fmt_cpu), ("memory", total.memory, fmt_memory)):
        limit = quantity(getattr(quota, key))
        if limit is not None and have > limit:
            path = ("spec", "profile", "quota", key)
            yield Finding("KF518", "cpu-memory-quota", f"expected {key} requests within the profile quota "
                          f"{getattr(quota, key)}, got {fmt(have)} when every workload runs at full parallelism: "
                          f"{_quota_breakdown(ctx, key, fmt)}", ctx.loc(path), path)


def owner(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.project.model.metadata.owner:
        path = ("metadata",)
        yield Finding("KF514", "owner", "expected metadata.owner (an email address), got none", ctx.loc(path), path,
                      hint="someone must answer for what runs in the cluster: metadata: {owner: you@example.com}")


_VALUE_MAPS = frozenset({"env", "conf", "args", "settings", "metadata", "parameters", "params", "config"})


def literal_secrets(ctx: RuleContext) -> Iterator[Finding]:
    from kfconf.spec.checks import SECRET_VALUE, is_literal_secret

    seen: set[PathT] = set()
    for path, value in walk_raw(ctx.project.raw.get("spec", {}), ("spec",)):
        if not isinstance(value, str) or not value or not path:
            continue
        named = len(path) >= 2 and path[-2] in _VALUE_MAPS and isinstance(path[-1], str)
        if (named and is_literal_secret(str(path[-1]), value)) or SECRET_VALUE.match(value):
            seen.add(path)
            # never echo the value: it may be a real credential
            yield Finding("KF515", "literal-secret", "expected a reference to a Secret, got a literal value",
                          ctx.loc(path), path, entry=ctx.entry_of(path),
                          hint="use {secret: NAME, key: KEY} and keep the value in a Secret")
    for r in ctx.resources:
        if r.kind == "Secret" and (r.body.get("data") or r.body.get("stringData")):
            yield Finding("KF515", "literal-secret", f"expected no Secret values in the output, got {r.id} with data",
                          r.origin, resource=r.id, entry=f"{r.component}/{r.entry}" if r.entry else "")
        for p, v in walk_raw(r.body, ()):
            if (isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("value"), str)
                    and p and p[-2:-1] == ("env",) and is_literal_secret(v["name"], v["value"])):
                yield Finding("KF515", "literal-secret", f"expected a reference to a Secret, got a literal value for "
                              f"{v['name']} in {r.id}", r.origin, resource=r.id,
                              entry=f"{r.component}/{r.entry}" if r.entry else "")


def serving_replicas(ctx: RuleContext) -> Iterator[Finding]:
    least = int(ctx.options.get("min", 2))
    for e in ctx.project.entries("serving"):
        n = e.replicas.min
        if n < least:
            path = ctx.project.entry_path("serving", e.name)
            exact = (*path, "replicas", "min")
            where = exact if ctx.project.source.exact(exact) else path
            yield Finding("KF516", "serving-replicas", f"expected at least {least} replicas of a production model "
                          f"server, got replicas.min {n}", ctx.loc(where), exact, entry=f"serving/{e.name}",
                          hint="one replica means downtime on every node drain and rollout")


def tuning_budget(ctx: RuleContext) -> Iterator[Finding]:
    limits = {"trials": int(ctx.options.get("maxTrials", 100)), "parallel": int(ctx.options.get("maxParallel", 10))}
    for e in ctx.project.entries("tuning"):
        base = (*ctx.project.entry_path("tuning", e.name), "budget")
        for key, most in limits.items():
            got = getattr(e.budget, key)
            if got > most:
                path = (*base, key)
                yield Finding("KF517", "tuning-budget", f"expected budget.{key} ≤ {most}, got {got}",
                              ctx.loc(path), path, entry=f"tuning/{e.name}",
                              hint="raise the limit in the policy file if this budget is intended")
        if e.budget.failures > e.budget.trials:
            path = (*base, "failures")
            yield Finding("KF517", "tuning-budget", f"expected budget.failures ≤ budget.trials ({e.budget.trials}), "
                          f"got {e.budget.failures}", ctx.loc(path), path, entry=f"tuning/{e.name}")


def training_timeout(ctx: RuleContext) -> Iterator[Finding]:
    for e in ctx.project.entries("training"):
        if getattr(e, "timeout_seconds", None) is None:
            path = ctx.project.entry_path("training", e.name)
            yield Finding("KF519", "training-timeout", "expected timeoutSeconds on a production training job, "
                          "got none", ctx.loc(path), (*path, "timeoutSeconds"), severity=Severity.WARNING,
                          entry=f"training/{e.name}", hint="a hung job holds its GPUs until someone notices")


RULES: tuple[Rule, ...] = (
    Rule("KF510", "image-digest", "production runs exactly the bytes that were reviewed and scanned: pin by digest",
         image_digest, production_only=True),
    Rule("KF511", "image-tag", "`:latest` or no tag makes two deploys of one commit run different code",
         image_tag),
    Rule("KF512", "requests-limits", "without requests the scheduler overcommits nodes; without limits one job "
         "starves its neighbours", requests_limits, options={"require": ["cpu", "memory"]}),
    Rule("KF513", "gpu-quota", "the profile's ResourceQuota refuses pods beyond its GPUs: jobs would hang pending",
         gpu_quota),
    Rule("KF514", "owner", "every project needs someone who answers for what it runs", owner),
    Rule("KF515", "literal-secret", "secrets in git leak to everyone who can read the repository; reference a Secret",
         literal_secrets),
    Rule("KF516", "serving-replicas", "a single replica drops traffic on every node drain and rollout",
         serving_replicas, production_only=True, options={"min": 2}),
    Rule("KF517", "tuning-budget", "a tuning budget multiplies the cost of a trial; keep it bounded",
         tuning_budget, options={"maxTrials": 100, "maxParallel": 10}),
    Rule("KF518", "cpu-memory-quota", "the profile's ResourceQuota refuses pods beyond its CPU and memory",
         cpu_memory_quota, severity=Severity.WARNING),
    Rule("KF519", "training-timeout", "an unbounded production job holds its GPUs until someone notices",
         training_timeout, severity=Severity.WARNING, production_only=True),
)

BY_REF: dict[str, Rule] = {**{r.code: r for r in RULES}, **{r.name: r for r in RULES}}
