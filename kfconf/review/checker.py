"""Running the checks: build every project for every environment, evaluate the enabled built-in and custom
rules, apply exemptions, and gather the findings (deduplicated across environments) into a CheckReport."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.core.errors import CODES, FindingsError, KfconfError, Severity
from kfconf.core.paths import shown
from kfconf.core.resource import Resource
from kfconf.core.source import Loc, PathT, describe, fmt_path
from kfconf.review.normalize import normalize
from kfconf.review.policy import ENV_BASE, CustomRule, Policy, select
from kfconf.review.rules import RULES, Finding, RuleContext

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
        folder = shown(project_dir, cwd, real=True)
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
