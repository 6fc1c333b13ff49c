"""Check reports: text, JSON, SARIF 2.1.0, GitHub workflow annotations and JUnit XML.

Every format points at the spec file and line that caused a finding. Exempted findings are kept:
as suppressed results (with the reason as justification) in SARIF and JSON, as a count in text.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from kfconf import __version__
from kfconf.core.errors import Severity
from kfconf.review.checker import CheckReport, Reported

INFO_URI = "https://github.com/kfconf/kfconf"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GH = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def rule_id(r: Reported) -> str:
    """Built-in rules and validation codes by code; custom rules by their own id."""
    return r.finding.rule if r.finding.code == "KF501" else r.finding.code


def _where(r: Reported) -> str:
    bits = []
    if r.project:
        envs = ", ".join(r.envs)
        bits.append(f"{r.project} [{envs}]" if envs else r.project)
    if r.finding.resource:
        bits.append(r.finding.resource)
    return f" ({'; '.join(bits)})" if bits else ""


def render_text(report: CheckReport) -> str:
    out = []
    for r in report.findings:
        f = r.finding
        loc = f"{f.loc}: " if f.loc else ""
        name = f" {f.rule}" if f.rule not in ("validate",) else ""
        out.append(f"{loc}{f.severity.value}[{rule_id(r)}{name if f.code != 'KF501' else ''}] {f.message}{_where(r)}")
        if f.hint:
            out.append(f"  hint: {f.hint}")
    for r in report.exempted:
        f = r.finding
        loc = f"{f.loc}: " if f.loc else ""
        out.append(f"{loc}exempted[{rule_id(r)}] {f.message}{_where(r)} — {r.exemption}")
    out.append(report.summary())
    return "\n".join(out) + "\n"


def render_json(report: CheckReport) -> str:
    doc = {"summary": {"projects": len({c[1] for c in report.checked}), "environments": len(report.checked),
                       "errors": len(report.errors),
                       "warnings": sum(r.finding.severity is Severity.WARNING for r in report.findings),
                       "exempted": len(report.exempted)},
           "policy": report.policy_file,
           "findings": [r.to_json() for r in report.findings],
           "exempted": [r.to_json() for r in report.exempted]}
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _sarif_result(r: Reported, index: dict[str, int]) -> dict[str, Any]:
    f = r.finding
    rid = rule_id(r)
    res: dict[str, Any] = {"ruleId": rid, "level": _LEVEL[f.severity], "message": {"text": f.message + _where(r)}}
    if rid in index:
        res["ruleIndex"] = index[rid]
    if f.loc:
        res["locations"] = [{"physicalLocation": {
            "artifactLocation": {"uri": f.loc.file.replace("\\", "/"), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": f.loc.line, "startColumn": f.loc.col}}}]
    props: dict[str, Any] = {}
    if r.project:
        props["project"] = r.project
        props["environments"] = list(r.envs)
    if f.resource:
        props["resource"] = f.resource
    if f.entry:
        props["entry"] = f.entry
    if props:
        res["properties"] = props
    # a stable identity across runs, so code scanning tracks a finding rather than reopening it
    res["partialFingerprints"] = {"kfconf/v1": "|".join([rid, r.project_path, f.resource, f.entry, f.message])}
    if r.exemption:
        res["suppressions"] = [{"kind": "external", "status": "accepted", "justification": r.exemption}]
    if f.hint:
        res["message"]["text"] += f" (hint: {f.hint})"
    return res


def render_sarif(report: CheckReport) -> str:
    seen: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    for info in report.rules:
        if info.id in seen:
            continue
        seen[info.id] = len(rules)
        rules.append({"id": info.id, "name": info.name,
                      "shortDescription": {"text": info.description},
                      "defaultConfiguration": {"level": _LEVEL[info.severity]},
                      "helpUri": f"{INFO_URI}/blob/main/docs/ci.md#rules"})
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kfconf", "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFO_URI, "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the folder kfconf check ran in"}}},
            "results": [_sarif_result(r, seen) for r in [*report.findings, *report.exempted]],
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    """GitHub's workflow-command escaping: %, CR, LF always; ':' and ',' too inside properties."""
    out = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        out = out.replace(":", "%3A").replace(",", "%2C")
    return out


def render_github(report: CheckReport) -> str:
    lines = []
    for r in report.findings:
        f = r.finding
        props = []
        if f.loc:
            props += [f"file={_gh_escape(f.loc.file, True)}", f"line={f.loc.line}", f"col={f.loc.col}"]
        props.append(f"title={_gh_escape(f'{rule_id(r)} {f.rule}' if f.code != 'KF501' else rule_id(r), True)}")
        msg = f.message + _where(r) + (f"\nhint: {f.hint}" if f.hint else "")
        lines.append(f"::{_GH[f.severity]} {','.join(props)}::{_gh_escape(msg)}")
    lines.append(f"::notice title=kfconf check::{_gh_escape(report.summary())}")
    return "\n".join(lines) + "\n"


def _case(suite: ET.Element, name: str, classname: str, hits: list[Reported], rid: str) -> bool:
    """A test case; failed when one of HITS is an error. Returns whether it failed."""
    case = ET.SubElement(suite, "testcase", name=name, classname=classname)
    errors = [h for h in hits if h.finding.severity is Severity.ERROR]
    if errors:
        first = errors[0].finding
        if first.loc:
            case.set("file", first.loc.file)
            case.set("line", str(first.loc.line))
        fail = ET.SubElement(case, "failure", message=first.message, type=rid)
        fail.text = "\n".join(f"{h.finding.loc}: {h.finding.message}" if h.finding.loc else h.finding.message
                              for h in errors)
    elif hits:
        ET.SubElement(case, "system-out").text = "\n".join(
            f"{h.finding.severity.value}: {h.finding.loc}: {h.finding.message}" for h in hits)
    return bool(errors)


def render_junit(report: CheckReport) -> str:
    """One test suite per project; per environment a `validate` case and one case per rule that ran there."""
    root = ET.Element("testsuites", name="kfconf check")
    names = {info.id: info.name for info in report.rules}
    by_project: dict[str, list[tuple[str, str]]] = {}
    for name, folder, env in report.checked:
        by_project.setdefault(folder, []).append((name, env))
    total = failures = 0
    for folder, items in by_project.items():
        project = items[0][0]
        suite = ET.SubElement(root, "testsuite", name=f"{project} ({folder})")
        n = f = 0
        for _, env in items:
            ran = report.evaluated.get((folder, env), [])
            here = [r for r in report.findings if r.project_path == folder and env in r.envs]
            validation = [r for r in here if rule_id(r) not in ran]
            f += _case(suite, f"validate [{env}]", f"kfconf.{project}.{env}", validation, "validate")
            n += 1
            for rid in ran:
                f += _case(suite, f"{rid} {names.get(rid, rid)} [{env}]", f"kfconf.{project}.{env}",
                           [r for r in here if rule_id(r) == rid], rid)
                n += 1
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", "0")
        total += n
        failures += f
    policy_hits = [r for r in report.findings if not r.project]
    if policy_hits:
        suite = ET.SubElement(root, "testsuite", name=f"policy ({report.policy_file})")
        f = sum(_case(suite, f"{h.finding.code} {h.finding.rule}", "kfconf.policy", [h], h.finding.code)
                for h in policy_hits)
        suite.set("tests", str(len(policy_hits)))
        suite.set("failures", str(f))
        suite.set("errors", "0")
        total += len(policy_hits)
        failures += f
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(report: CheckReport, fmt: str) -> str:
    return {"text": render_text, "json": render_json, "sarif": render_sarif, "github": render_github,
            "junit": render_junit}[fmt](report)
