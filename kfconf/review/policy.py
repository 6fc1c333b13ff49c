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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from kfconf.core.errors import CODES, Diagnostic, FindingsError, KfconfError, RunError, Severity
from kfconf.core.resource import Resource
from kfconf.core.source import Loc, PathT, SourceMap, describe, fmt_path
from kfconf.review.normalize import normalize
from kfconf.review.quantity import quantity
from kfconf.review.rules import BY_REF, RULES, Finding, RuleContext
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

    shown = str(path)
    if cwd is not None and path.resolve().is_relative_to(cwd.resolve()):
        shown = str(path.resolve().relative_to(cwd.resolve()))
    if not path.is_file():
        raise RunError(f"{shown}: no such policy file")
    try:
        doc = load(path, shown)
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
    policy = Policy(production=frozenset(spec.production), custom=custom, file=shown)
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


# -------------------------------------------------------------------------------------- evaluation

_EXPLAINED = re.compile(r"^([^\s:]+\.ya?ml):([0-9]+)")


def _explain_loc(ctx: RuleContext, r: Resource, segs: PathT) -> Loc | None:
    """The spec line of a generated field, from the renderer's --explain record (longest matching prefix)."""
    text = "".join(f"[{s}]" if isinstance(s, int) else ("." if i else "") + str(s) for i, s in enumerate(segs))
    best = ""
    for key in r.explain:
        if (text == key or text.startswith(key + ".") or text.startswith(key + "[")) and len(key) > len(best):
            best = key
    m = _EXPLAINED.match(r.explain.get(best, "")) if best else None
    if m is None:
        return None
    spec_file = ctx.project.spec_file
    prefix = spec_file[: -len("ml-project.yaml")] if spec_file.endswith("ml-project.yaml") else ""
    shown, line = prefix + m.group(1), int(m.group(2))
    cols = sorted(loc.col for loc in ctx.project.source.by_path.values() if loc.file == shown and loc.line == line)
    return Loc(shown, line, cols[0] if cols else 1)


def _custom_message(rule: CustomRule, where: str, value: Any, present: bool) -> str:
    got = describe(value) if present else "nothing"
    text = f"expected {where} {rule.test.describe()}, got {got}"
    return f"{rule.message}: {text}" if rule.message else text


def eval_custom(rule: CustomRule, ctx: RuleContext) -> Iterator[Finding]:
    if rule.match.section is not None:
        for e in ctx.project.entries(rule.match.section):
            if rule.match.name is not None and not fnmatch.fnmatchcase(getattr(e, "name", ""), rule.match.name):
                continue
            data = e.model_dump(by_alias=True, mode="json")
            base = ctx.project.entry_path(rule.match.section, getattr(e, "name", ""))
            for segs, value, present in select(data, rule.path):
                if not rule.test.passes(value, present):
                    full = (*base, *segs)
                    yield Finding("KF501", rule.id, _custom_message(rule, fmt_path(full), value, present),
                                  ctx.loc(full), full, rule.severity, entry=f"{rule.match.section}/{e.name}")
        return
    for r in ctx.resources:
        if not rule.applies(r):
            continue
        for segs, value, present in select(normalize(r.body), rule.path):
            if not rule.test.passes(value, present):
                loc = _explain_loc(ctx, r, segs) or r.origin
                yield Finding("KF501", rule.id, _custom_message(rule, f"{r.id} {fmt_path(segs)}", value, present),
                              loc, (), rule.severity, resource=r.id,
                              entry=f"{r.component}/{r.entry}" if r.entry else "")


@dataclass(frozen=True)
class Reported:
    """A finding as reported: which project, which environments, and whether (why) it is exempted."""

    finding: Finding
    project: str
    project_path: str
    envs: tuple[str, ...]
    exemption: str | None = None

    def to_json(self) -> dict[str, Any]:
        f = self.finding
        out: dict[str, Any] = {"code": f.code, "rule": f.rule, "severity": f.severity.value, "message": f.message,
                               "project": self.project or None, "environments": list(self.envs),
                               "path": fmt_path(f.path) if f.path else None, "resource": f.resource or None,
                               "entry": f.entry or None, "hint": f.hint}
        if f.loc:
            out.update(file=f.loc.file, line=f.loc.line, column=f.loc.col)
        if self.exemption:
            out["exemption"] = self.exemption
        return out


@dataclass(frozen=True)
class RuleInfo:
    id: str
    name: str
    description: str
    severity: Severity


@dataclass
class CheckReport:
    findings: list[Reported]
    exempted: list[Reported]
    checked: list[tuple[str, str, str]]
    """(project name, project folder, environment) pairs that were checked."""
    rules: list[RuleInfo]
    policy_file: str | None = None
    evaluated: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(project folder, environment) → ids of the rules that ran there (none when the build failed)."""

    @property
    def errors(self) -> list[Reported]:
        return [r for r in self.findings if r.finding.severity is Severity.ERROR]

    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def summary(self) -> str:
        e = len(self.errors)
        w = sum(r.finding.severity is Severity.WARNING for r in self.findings)
        projects = len({c[1] for c in self.checked})
        return (f"checked {projects} project{'s' * (projects != 1)} in {len(self.checked)} environment"
                f"{'s' * (len(self.checked) != 1)}: {e} error{'s' * (e != 1)}, {w} warning{'s' * (w != 1)}, "
                f"{len(self.exempted)} exempted")


def _display(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve())) or "."
    except ValueError:
        return str(path)


def _dedupe(items: Iterable[tuple[Finding, str, str, str, str | None]]) -> list[Reported]:
    merged: dict[tuple[Any, ...], tuple[Finding, str, str, list[str], str | None]] = {}
    for f, project, folder, env, exemption in items:
        key = (f.code, f.rule, f.loc, f.message, f.resource, f.entry, folder, exemption)
        if key not in merged:
            merged[key] = (f, project, folder, [], exemption)
        if env not in merged[key][3]:
            merged[key][3].append(env)
    out = [Reported(f, p, folder, tuple(envs), ex) for f, p, folder, envs, ex in merged.values()]
    return sorted(out, key=lambda r: ((r.finding.loc.file, r.finding.loc.line, r.finding.loc.col) if r.finding.loc
                                      else ("", 0, 0), r.finding.code, r.finding.message, r.project_path))


def run_checks(projects: list[Path], policy: Policy, envs: list[str | None] | None, cwd: Path) -> CheckReport:
    """Build every project for every environment and evaluate the enabled rules."""
    from kfconf.build import build_project
    from kfconf.spec.environments import environments

    raw: list[tuple[Finding, str, str, str, str | None]] = []
    checked: list[tuple[str, str, str]] = []
    used: set[int] = set()
    evaluated: dict[tuple[str, str], list[str]] = {}
    seen_codes: dict[str, RuleInfo] = {}
    for project_dir in projects:
        folder = _display(project_dir, cwd)
        wanted = envs if envs is not None else [None, *environments(project_dir)]
        for env in wanted:
            env_name = env or ENV_BASE
            try:
                result = build_project(project_dir, env, None, cwd=cwd, check=True)
            except FindingsError as e:
                name = project_dir.name
                checked.append((name, folder, env_name))
                for d in e.diagnostics:
                    seen_codes.setdefault(d.code, RuleInfo(d.code, "validate", CODES.get(d.code, d.code), d.severity))
                    raw.append((Finding(d.code, "validate", d.message, d.loc, d.path, d.severity, hint=d.hint),
                                name, folder, env_name, None))
                continue
            except KfconfError:
                raise
            name = result.project.name
            checked.append((name, folder, env_name))
            found: list[Finding] = []
            for d in result.diagnostics:
                seen_codes.setdefault(d.code, RuleInfo(d.code, "validate", CODES.get(d.code, d.code), d.severity))
                found.append(Finding(d.code, "validate", d.message, d.loc, d.path, d.severity, hint=d.hint))
            production = env_name in policy.production
            ran = evaluated.setdefault((folder, env_name), [])
            for rule in RULES:
                cfg = policy.config(rule.code, rule.options, env_name)
                if not cfg.enabled or (rule.production_only and not production):
                    continue
                ran.append(rule.code)
                ctx = RuleContext(result.project, result.stack, env, result.resources, production, cfg.options)
                for f in rule.fn(ctx):
                    found.append(_with_severity(f, cfg.severity or rule.severity))
            for custom in policy.custom:
                cfg = policy.config(custom.id, {}, env_name)
                if not cfg.enabled or (custom.environments is not None and env_name not in custom.environments):
                    continue
                ran.append(custom.id)
                ctx = RuleContext(result.project, result.stack, env, result.resources, production)
                for f in eval_custom(custom, ctx):
                    found.append(_with_severity(f, cfg.severity))
            for f in found:
                names = (f.code, f.rule)
                reason = None
                for i, ex in enumerate(policy.exemptions):
                    if ex.covers(f, names, name, env_name):
                        used.add(i)
                        reason = ex.reason
                        break
                raw.append((f, name, folder, env_name, reason))
    checked_projects = {c[0] for c in checked}
    checked_envs = {c[2] for c in checked}
    for i, ex in enumerate(policy.exemptions):
        in_scope = ((ex.project is None or ex.project in checked_projects)
                    and (ex.environments is None or bool(ex.environments & checked_envs)))
        if i not in used and in_scope:
            raw.append((Finding("KF504", "exemption-unused", f"expected the exemption from {ex.rule} to match a "
                                "finding, got none; remove it or fix its resource/entry/project",
                                ex.loc, severity=Severity.WARNING), "", "", "", None))
    for f in policy.problems:
        raw.append((f, "", "", "", None))
    reported = _dedupe(raw)
    rules = [RuleInfo(r.code, r.name, r.rationale, r.severity) for r in RULES]
    rules += [RuleInfo(c.id, c.id, c.rationale or c.message or f"{c.path_text} {c.test.describe()}", c.severity)
              for c in policy.custom]
    rules += [RuleInfo(code, "policy", CODES[code], Severity.ERROR if code == "KF503" else Severity.WARNING)
              for code in ("KF503", "KF504")]
    rules += sorted(seen_codes.values(), key=lambda r: r.id)
    return CheckReport([r for r in reported if not r.exemption], [r for r in reported if r.exemption],
                       checked, rules, policy.file, evaluated)


def _with_severity(f: Finding, severity: Severity | None) -> Finding:
    if severity is None or severity is f.severity:
        return f
    from dataclasses import replace

    return replace(f, severity=severity)
