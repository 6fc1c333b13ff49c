"""The policy file, and running every rule over projects × environments.

```yaml
apiVersion: kfconf.dev/v1alpha1
kind: Policy
production: [prod]                 # environments the production-only rules apply to
rules:                             # by code or name: on | off | error | warning | info | {enabled, severity, OPTION…}
  KF511: warning
  tuning-budget: {maxTrials: 200}
environments:                      # per environment ('base' is the spec without overlays)
  dev: {rules: {requests-limits: off}}
custom:
  - id: isvc-min-replicas
    match: {kind: InferenceService}           # or {section: serving} to test the spec entries
    path: spec.predictor.minReplicas
    condition: ">= 2"                         # or exists: true | matches: REGEX | in: [...]
    environments: [prod]
    message: production models keep two replicas
exemptions:
  - rule: KF516
    entry: serving/churn                      # or resource: Kind/namespace/name, or project: NAME
    environments: [prod]
    reason: shadow deployment, takes no user traffic    # mandatory
```

Exemptions live here, not in the spec: the spec schema stays closed, and the people who own the
policy (CODEOWNERS of this file) review every exemption in one place. An exemption without a reason
is itself an error finding (KF503) and exempts nothing; one that matches nothing is a warning (KF504).
"""

from __future__ import annotations

import difflib
import fnmatch
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from kfconf.core.errors import CODES, Diagnostic, FindingsError, RunError, Severity
from kfconf.core.paths import shown
from kfconf.core.resource import Resource
from kfconf.core.source import Loc, PathT, SourceMap, describe
from kfconf.review.quantity import quantity
from kfconf.review.rules import BY_REF, Finding
from kfconf.spec.types import Model

ENV_BASE = "base"


class PolicyError(RunError):
    """An invalid policy file: kfconf cannot know what to check (exit 2)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("invalid policy file\n" + "\n".join(d.render() for d in diagnostics))


# ------------------------------------------------------------------------------------------ the file

class MatchSpec(Model):
    kind: str | None = None
    api_version: str | None = None
    name: str | None = None
    """A glob on metadata.name."""
    component: str | None = None
    section: str | None = None
    """Test the entries of a spec section (serving, training, …) instead of generated resources."""


class CustomRuleSpec(Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    message: str | None = None
    rationale: str = ""
    severity: Literal["error", "warning", "info"] = "error"
    environments: list[str] | None = None
    match: MatchSpec
    path: str = Field(min_length=1)
    condition: str | None = None
    exists: bool | None = None
    matches: str | None = None
    in_: list[str | int | float | bool] | None = Field(None, alias="in")


class ExemptionSpec(Model):
    rule: str = Field(min_length=1)
    project: str | None = None
    resource: str | None = None
    entry: str | None = None
    environments: list[str] | None = None
    reason: str | None = None


class EnvPolicySpec(Model):
    rules: dict[str, Any] = Field(default_factory=dict)


class PolicySpec(Model):
    api_version: Literal["kfconf.dev/v1alpha1"] = Field("kfconf.dev/v1alpha1", alias="apiVersion")
    kind: Literal["Policy"] = "Policy"
    production: list[str] = Field(default_factory=lambda: ["prod", "production"])
    rules: dict[str, Any] = Field(default_factory=dict)
    environments: dict[str, EnvPolicySpec] = Field(default_factory=dict)
    custom: list[CustomRuleSpec] = Field(default_factory=list)
    exemptions: list[ExemptionSpec] = Field(default_factory=list)


# --------------------------------------------------------------------------------------- value paths

_PATH_TOKEN = re.compile(r'\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\*|[0-9]+)\]|\["([^"]+)"\]')


def parse_path(text: str) -> tuple[str | int, ...] | None:
    """`spec.predictor.minReplicas`, `spec.containers[*].image`, `metadata.annotations["a.b/c"]`; None if invalid."""
    out: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _PATH_TOKEN.match(text, pos)
        if not m or (m.group(1) and pos > 0 and not text.startswith(".", pos)):
            return None
        if m.group(1):
            out.append(m.group(1))
        elif m.group(2):
            out.append("*" if m.group(2) == "*" else int(m.group(2)))
        else:
            out.append(m.group(3))
        pos = m.end()
    return tuple(out) or None


def select(data: Any, path: tuple[str | int, ...], here: PathT = ()) -> Iterator[tuple[PathT, Any, bool]]:
    """(concrete path, value, present) for every value PATH reaches; `[*]` fans out over a list."""
    if not path:
        yield here, data, True
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(data, list):
            for i, item in enumerate(data):
                yield from select(item, rest, (*here, i))
        return
    if isinstance(head, int):
        if isinstance(data, list) and 0 <= head < len(data):
            yield from select(data[head], rest, (*here, head))
            return
    elif isinstance(data, dict) and head in data:
        yield from select(data[head], rest, (*here, head))
        return
    yield (*here, *path), None, False


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


def _same_scalar(a: Any, b: Any) -> bool:
    """2 == 2.0, but true ≠ 1 and "2" ≠ 2: YAML types matter to the API server."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _number(v: Any) -> Any:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return v
    if isinstance(v, str):
        return quantity(v)  # 2, "500m", "8Gi" compare as quantities
    return None


@dataclass(frozen=True)
class Test:
    kind: str
    """condition | exists | matches | in"""
    arg: Any
    op: str = ""

    def describe(self) -> str:
        if self.kind == "condition":
            return f"{self.op} {self.arg}"
        if self.kind == "exists":
            return "to be set" if self.arg else "to be absent"
        if self.kind == "matches":
            return f"to match /{self.arg.pattern}/"
        return f"to be one of {', '.join(map(str, self.arg))}"

    def passes(self, value: Any, present: bool) -> bool:
        if self.kind == "exists":
            return present is bool(self.arg)
        if not present:
            return False
        if self.kind == "matches":
            return isinstance(value, str | int | float) and self.arg.fullmatch(str(value)) is not None
        if self.kind == "in":
            return any(_same_scalar(value, x) for x in self.arg)
        a, b = _number(value), _number(self.arg)
        if a is not None and b is not None:
            return bool(_OPS[self.op](a, b))
        if self.op in ("==", "!="):
            return bool(_OPS[self.op](str(value), str(self.arg)))
        return False


@dataclass(frozen=True)
class CustomRule:
    id: str
    message: str | None
    rationale: str
    severity: Severity
    environments: frozenset[str] | None
    match: MatchSpec
    path_text: str
    path: tuple[str | int, ...]
    test: Test
    loc: Loc

    def applies(self, r: Resource) -> bool:
        m = self.match
        return ((m.kind is None or r.kind == m.kind) and (m.api_version is None or r.api_version == m.api_version)
                and (m.name is None or fnmatch.fnmatchcase(r.name, m.name))
                and (m.component is None or r.component == m.component))


@dataclass(frozen=True)
class Exemption:
    rule: str
    project: str | None
    resource: str | None
    entry: str | None
    environments: frozenset[str] | None
    reason: str
    loc: Loc

    def covers(self, f: Finding, rule_names: tuple[str, ...], project: str, env: str) -> bool:
        return (self.rule in rule_names
                and (self.environments is None or env in self.environments)
                and (self.project is None or self.project == project)
                and (self.resource is None or (bool(f.resource) and fnmatch.fnmatchcase(f.resource, self.resource)))
                and (self.entry is None or (bool(f.entry) and fnmatch.fnmatchcase(f.entry, self.entry))))


@dataclass
class RuleConfig:
    enabled: bool = True
    severity: Severity | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Policy:
    production: frozenset[str] = frozenset({"prod", "production"})
    rules: dict[str, RuleConfig] = field(default_factory=dict)
    """Rule code (or custom id) → settings for every environment."""
    env_rules: dict[str, dict[str, RuleConfig]] = field(default_factory=dict)
    custom: list[CustomRule] = field(default_factory=list)
    exemptions: list[Exemption] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    """Findings about the policy file itself (exemptions without a reason)."""
    file: str | None = None

    def config(self, key: str, defaults: dict[str, Any], env: str) -> RuleConfig:
        out = RuleConfig(options=dict(defaults))
        for layer in (self.rules.get(key), self.env_rules.get(env, {}).get(key)):
            if layer is None:
                continue
            out.enabled = layer.enabled
            out.severity = layer.severity or out.severity
            out.options.update(layer.options)
        return out


_SHORT = {"on": (True, None), "off": (False, None), "error": (True, Severity.ERROR),
          "warning": (True, Severity.WARNING), "info": (True, Severity.INFO)}


def _bad(message: str, loc: Loc, path: PathT, hint: str | None = None) -> Diagnostic:
    return Diagnostic("KF502", message, loc, path, hint=hint)


def _rule_setting(key: str, value: Any, defaults: dict[str, Any], src: SourceMap, path: PathT,
                  diags: list[Diagnostic]) -> RuleConfig | None:
    if isinstance(value, bool):
        return RuleConfig(enabled=value)
    if isinstance(value, str) and value in _SHORT:
        on, sev = _SHORT[value]
        return RuleConfig(enabled=on, severity=sev)
    if not isinstance(value, dict):
        diags.append(_bad(f"expected on, off, error, warning, info or a mapping, got {describe(value)}",
                          src.at(path), path))
        return None
    cfg = RuleConfig()
    for k, v in value.items():
        p = (*path, k)
        if k == "enabled":
            if not isinstance(v, bool):
                diags.append(_bad(f"expected true or false, got {describe(v)}", src.at(p), p))
            else:
                cfg.enabled = v
        elif k == "severity":
            if v not in ("error", "warning", "info"):
                diags.append(_bad(f"expected error, warning or info, got {describe(v)}", src.at(p), p))
            else:
                cfg.severity = Severity(v)
        elif k in defaults:
            want = defaults[k]
            ok = (isinstance(v, list) if isinstance(want, list) else
                  isinstance(v, int) and not isinstance(v, bool) and v >= 0 if isinstance(want, int) else True)
            if not ok:
                diags.append(_bad(f"expected {'a list' if isinstance(want, list) else 'an integer ≥ 0'} for "
                                  f"{key}.{k}, got {describe(v)}", src.at(p), p))
            else:
                cfg.options[k] = v
        else:
            allowed = ["enabled", "severity", *defaults]
            close = difflib.get_close_matches(str(k), allowed, n=1)
            diags.append(_bad(f"unknown setting '{k}' of rule {key}", src.at(p), p,
                              hint=f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"))
    return cfg


def _rule_map(rules: dict[str, Any], custom_ids: set[str], src: SourceMap, path: PathT,
              diags: list[Diagnostic]) -> dict[str, RuleConfig]:
    out: dict[str, RuleConfig] = {}
    for key, value in rules.items():
        p = (*path, key)
        rule = BY_REF.get(key)
        if rule is None and key not in custom_ids:
            known = sorted({*BY_REF, *custom_ids})
            close = difflib.get_close_matches(str(key), known, n=1)
            diags.append(_bad(f"unknown rule '{key}'", src.at(p), p,
                              hint=f"did you mean '{close[0]}'?" if close else "see `kfconf check --list-rules`"))
            continue
        cfg = _rule_setting(key, value, rule.options if rule else {}, src, p, diags)
        if cfg is not None:
            out[rule.code if rule else key] = cfg
    return out


def _custom(spec: CustomRuleSpec, i: int, src: SourceMap, diags: list[Diagnostic]) -> CustomRule | None:
    base: PathT = ("custom", i)
    loc = src.at(base)
    if spec.id in BY_REF:
        diags.append(_bad(f"expected a custom rule id that is not a built-in rule, got '{spec.id}'",
                          src.at((*base, "id")), (*base, "id")))
    given = [k for k, v in (("condition", spec.condition), ("exists", spec.exists), ("matches", spec.matches),
                            ("in", spec.in_)) if v is not None]
    if len(given) != 1:
        diags.append(_bad(f"expected exactly one of condition, exists, matches, in; got "
                          f"{', '.join(given) or 'none'}", loc, base))
        return None
    if (spec.match.kind is None) == (spec.match.section is None):
        diags.append(_bad("expected match.kind (generated resources) or match.section (spec entries), not "
                          + ("both" if spec.match.kind else "neither"), src.at((*base, "match")), (*base, "match")))
        return None
    path = parse_path(spec.path)
    if path is None:
        diags.append(_bad(f"expected a field path such as spec.predictor.minReplicas or containers[*].image, got "
                          f"{spec.path!r}", src.at((*base, "path")), (*base, "path")))
        return None
    test: Test
    if spec.condition is not None:
        m = _CONDITION.match(spec.condition)
        if not m:
            p = (*base, "condition")
            diags.append(_bad(f"expected a comparison such as \">= 2\", got {spec.condition!r}", src.at(p), p))
            return None
        import yaml

        arg = yaml.safe_load(m.group(2))
        test = Test("condition", arg if isinstance(arg, int | float | str) else m.group(2), m.group(1))
    elif spec.exists is not None:
        test = Test("exists", spec.exists)
    elif spec.matches is not None:
        try:
            test = Test("matches", re.compile(spec.matches))
        except re.error as e:
            p = (*base, "matches")
            diags.append(_bad(f"expected a regular expression, got {spec.matches!r} ({e})", src.at(p), p))
            return None
    else:
        test = Test("in", tuple(spec.in_ or ()))
    return CustomRule(spec.id, spec.message, spec.rationale, Severity(spec.severity),
                      frozenset(spec.environments) if spec.environments is not None else None, spec.match,
                      spec.path, path, test, loc)


def load_policy(path: Path, cwd: Path | None = None) -> Policy:
    """Read and check a policy file; every problem at its line (exit 2), or the Policy."""
    from kfconf.spec.loader import load
    from kfconf.spec.validate import schema_diagnostics

    name = shown(path, cwd, real=True)
    if not path.is_file():
        raise RunError(f"{name}: no such policy file")
    try:
        doc = load(path, name)
    except FindingsError as e:
        raise PolicyError([Diagnostic("KF502", d.message, d.loc, d.path, d.hint) for d in e.diagnostics])
    src = doc.source
    try:
        spec = PolicySpec.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise PolicyError([Diagnostic("KF502", d.message, d.loc, d.path, d.hint)
                           for d in schema_diagnostics(doc.data, src, exc, root=PolicySpec)])
    diags: list[Diagnostic] = []
    custom = [c for i, s in enumerate(spec.custom) if (c := _custom(s, i, src, diags)) is not None]
    ids = [c.id for c in spec.custom]
    for i, cid in enumerate(ids):
        if cid in ids[:i]:
            pid: PathT = ("custom", i, "id")
            diags.append(_bad(f"expected unique custom rule ids, got '{cid}' again", src.at(pid), pid))
    policy = Policy(production=frozenset(spec.production), custom=custom, file=name)
    policy.rules = _rule_map(spec.rules, set(ids), src, ("rules",), diags)
    for env, ep in spec.environments.items():
        policy.env_rules[env] = _rule_map(ep.rules, set(ids), src, ("environments", env, "rules"), diags)
    for i, ex in enumerate(spec.exemptions):
        base: PathT = ("exemptions", i)
        rule = BY_REF.get(ex.rule)
        if rule is None and ex.rule not in ids and ex.rule not in CODES:
            close = difflib.get_close_matches(ex.rule, sorted({*BY_REF, *ids}), n=1)
            p = (*base, "rule")
            diags.append(_bad(f"unknown rule '{ex.rule}'", src.at(p), p,
                              hint=f"did you mean '{close[0]}'?" if close else "see `kfconf check --list-rules`"))
            continue
        if ex.project is None and ex.resource is None and ex.entry is None:
            diags.append(_bad("expected the exemption to name a project, a resource or an entry", src.at(base), base,
                              hint="an exemption for everything is a disabled rule: say `rules: {RULE: off}`"))
            continue
        if not (ex.reason or "").strip():
            policy.problems.append(Finding("KF503", "exemption-reason", f"expected a reason for the exemption from "
                                           f"{ex.rule}, got none; the exemption does not apply", src.at(base), base,
                                           hint="say why, e.g. reason: shadow deployment, takes no user traffic"))
            continue
        policy.exemptions.append(Exemption(rule.code if rule else ex.rule, ex.project, ex.resource, ex.entry,
                                           frozenset(ex.environments) if ex.environments is not None else None,
                                           str(ex.reason).strip(), src.at(base)))
    if diags:
        raise PolicyError(diags)
    return policy
