"""Renderings of a DiffReport: text (coloured on a terminal), Markdown for a PR comment, JSON.

The Markdown fits GitHub's comment limit (65,536 characters): the impact summary always comes
first, then one collapsible block per resource until the budget is spent, then a marker saying how
much was left out and where the full diff was written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kfconf.review.compare import DiffReport, Section
from kfconf.review.diff import FieldChange, ResourceChange
from kfconf.review.impact import Demand
from kfconf.review.quantity import fmt_cpu, fmt_gpu, fmt_memory

COMMENT_LIMIT = 65_536
LIST_LIMIT = 40
SYMBOL = {"add": "+", "remove": "-", "change": "~"}


def _value_lines(v: Any) -> list[str]:
    """A value on one line when it is short, else as sorted YAML lines."""
    if not isinstance(v, dict | list):
        return [json.dumps(v, ensure_ascii=False)]
    flow = json.dumps(v, ensure_ascii=False, sort_keys=True)
    if len(flow) <= 100:
        return [flow]
    from kfconf.build.emit import dump

    return dump(v).rstrip("\n").split("\n")


def field_lines(f: FieldChange) -> list[str]:
    """`- path: before` / `+ path: after` lines, in unified-diff style."""
    out: list[str] = []
    for sign, present, value in (("-", f.op != "add", f.before), ("+", f.op != "remove", f.after)):
        if not present:
            continue
        lines = _value_lines(value)
        if len(lines) == 1:
            out.append(f"{sign} {f.path}: {lines[0]}")
        else:
            out.append(f"{sign} {f.path}:")
            out.extend(f"{sign}   {line}" for line in lines)
    return out


def change_lines(c: ResourceChange) -> list[str]:
    if c.op == "add":
        from kfconf.build.emit import dump

        return [f"+ {line}" for line in dump(c.after).rstrip("\n").split("\n")]
    if c.op == "remove":
        return []
    return [line for f in c.fields for line in field_lines(f)]


def _cell(a: Demand, b: Demand, attr: str, fmt: Callable[[Any], str]) -> str:
    x, y = getattr(a, attr), getattr(b, attr)
    if x == y:
        return fmt(x)
    d = y - x
    return f"{fmt(x)} → {fmt(y)} ({'+' if d > 0 else ''}{fmt(d)})"


@dataclass
class Event:
    kind: str
    """rollout | replace | traffic | replicas | added | removed"""
    subject: str
    """the resource id"""
    text: str
    where: list[str] = field(default_factory=list)
    """the sections (project · environment) it happens in"""


@dataclass
class Summary:
    demand: list[tuple[str, Demand, Demand]]
    """(section label, requested before, after) for each section whose requests changed"""
    events: list[Event]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


def summarize(report: DiffReport) -> Summary:
    """The impact of each section; one event however many environments it happens in."""
    many_projects = len({s.path for s in report.changed}) > 1

    def label(s: Section) -> str:
        return f"{s.project} · {s.env_name}" if many_projects else s.env_name

    demand = [(label(s), s.impact.before, s.impact.after) for s in report.changed if s.impact.before != s.impact.after]
    events: dict[tuple[str, str, str, str], Event] = {}

    def add(s: Section, kind: str, subject: str, text: str) -> None:
        key = (s.path, kind, subject, text)
        if key not in events:
            events[key] = Event(kind, subject, text)
        events[key].where.append(label(s))

    for s in report.changed:
        imp = s.impact
        for tr in imp.traffic:
            add(s, "rollout" if tr.rollout else "traffic", tr.id, tr.describe())
        for rid, path, why in imp.replaced:
            add(s, "replace", rid, f"{path}: {why}")
        for r in imp.replicas:
            add(s, "replicas", r.id, f"{r.path}: {r.before} → {r.after}")
        for rid in imp.added:
            add(s, "added", rid, "")
        for rid in imp.removed:
            add(s, "removed", rid, "")
    return Summary(demand, list(events.values()))


def _where(e: Event) -> str:
    return f" ({', '.join(e.where)})"


def _capped(items: list[str], fmt: Callable[[str], str] = str) -> str:
    shown = ", ".join(fmt(i) for i in items[:LIST_LIMIT])
    return shown + (f" … and {len(items) - LIST_LIMIT} more" if len(items) > LIST_LIMIT else "")


def _headline(report: DiffReport) -> str:
    imp = report.impact
    if report.failed:
        return f"could not render {len(report.failed)} project environment(s)"
    if not report.changed:
        return "no changes"
    return (f"{len(imp.changed)} changed, {len(imp.added)} added, {len(imp.removed)} removed "
            f"in {len(report.changed)} project environment(s)")


def _revs(report: DiffReport) -> tuple[str, str]:
    b = f"{report.base.name} ({report.base.short})" if report.base.sha else report.base.name
    h = f"{report.head.name} ({report.head.short})" if report.head.sha else "the work tree"
    return b, h


# ------------------------------------------------------------------------------------------------ text

class _Paint:
    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text


def render_text(report: DiffReport, color: bool = False) -> str:
    p = _Paint(color)
    colors = {"+": "32", "-": "31", "~": "33"}
    b, h = _revs(report)
    out = [p(f"kfconf diff: {_headline(report)}", "1"), f"  base {b} → head {h}",
           f"  {len(report.affected)} of {report.projects} project(s) affected by the change"]
    if report.changed:
        sm = summarize(report)
        if sm.demand:
            out.append("")
            out.append("Requested when every workload runs at full parallelism:")
            out.append(f"  {'':<24} {'GPUs':<16} {'CPU (cores)':<22} memory")
            for name, was, now in sm.demand[:LIST_LIMIT]:
                out.append(f"  {name:<24} {_cell(was, now, 'gpu', fmt_gpu):<16} {_cell(was, now, 'cpu', fmt_cpu):<22} "
                           f"{_cell(was, now, 'memory', fmt_memory)}")
        out.append("")
        for e in sm.of("rollout"):
            out.append(p(f"ROLLOUT  {e.subject}: {e.text}{_where(e)}", "1;35"))
        for e in sm.of("traffic"):
            out.append(f"traffic  {e.subject}: {e.text}{_where(e)}")
        for e in sm.of("replace")[:LIST_LIMIT]:
            out.append(p(f"REPLACE  {e.subject}: {e.text}; the syncer deletes and recreates it{_where(e)}", "1;31"))
        for e in sm.of("replicas")[:LIST_LIMIT]:
            out.append(f"replicas {e.subject}: {e.text}{_where(e)}")
        for e in sm.of("added")[:LIST_LIMIT]:
            out.append(p(f"added    {e.subject}{_where(e)}", "32"))
        for e in sm.of("removed")[:LIST_LIMIT]:
            out.append(p(f"removed  {e.subject}{_where(e)}", "31"))
    for s in report.sections:
        if not (s.changes or s.errors):
            continue
        out.append("")
        out.append(p(f"== {s.title}" + (f" [{s.note}]" if s.note else ""), "1"))
        for err in s.errors:
            out.append(p(err, "31"))
        for c in s.changes:
            where = f"  {c.origin}" if c.origin else ""
            flag = f" [new version of {c.previous}]" if c.previous else " [replace]" if c.replace else ""
            out.append(p(f"{SYMBOL[c.op]} {c.id}{flag}", colors[SYMBOL[c.op]]) + where)
            for line in change_lines(c):
                out.append("    " + p(line, colors.get(line[:1], "0")))
    return "\n".join(out) + "\n"


# -------------------------------------------------------------------------------------------- markdown

def _md_code(text: str) -> str:
    tick = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{tick}{pad}{text}{pad}{tick}"


def _md_header(report: DiffReport) -> str:
    b, h = _revs(report)
    out = [f"### kfconf diff: {_headline(report)}",
           f"base {_md_code(b)} → head {_md_code(h)} · {len(report.affected)} of {report.projects} "
           "project(s) affected by the change", ""]
    if report.changed:
        sm = summarize(report)
        if sm.demand:
            out += ["| requested (all workloads at full parallelism) | GPUs | CPU (cores) | memory |",
                    "|---|---:|---:|---:|"]
            for name, a, c in sm.demand[:LIST_LIMIT]:
                out.append(f"| {name} | {_md_cell(a, c, 'gpu', fmt_gpu)} | {_md_cell(a, c, 'cpu', fmt_cpu)} | "
                           f"{_md_cell(a, c, 'memory', fmt_memory)} |")
            if len(sm.demand) > LIST_LIMIT:
                out.append(f"| … and {len(sm.demand) - LIST_LIMIT} more | | | |")
            out.append("")
        for e in sm.of("rollout"):
            out += ["> [!WARNING]", f"> **Rollout**: {_md_code(e.subject)} {e.text}{_where(e)}", ""]
        replaced = sm.of("replace")
        if replaced:
            out.append("> [!CAUTION]")
            out.append("> **Replace**: these changes touch immutable fields; the syncer deletes and recreates "
                       "the resource (a running job restarts from scratch)")
            for e in replaced[:LIST_LIMIT]:
                path, _, why = e.text.partition(": ")
                out.append(f"> - {_md_code(e.subject)} {_md_code(path)}: {why}{_where(e)}")
            if len(replaced) > LIST_LIMIT:
                out.append(f"> - … and {len(replaced) - LIST_LIMIT} more")
            out.append("")
        for kind, title in (("traffic", "Traffic"), ("replicas", "Replicas")):
            for e in sm.of(kind)[:LIST_LIMIT]:
                out.append(f"- **{title}**: {_md_code(e.subject)} {e.text}{_where(e)}")
        for kind, title in (("added", "Added"), ("removed", "Removed")):
            items = sm.of(kind)
            if items:
                shown = ", ".join(f"{_md_code(e.subject)}{_where(e)}" for e in items[:LIST_LIMIT])
                more = f" … and {len(items) - LIST_LIMIT} more" if len(items) > LIST_LIMIT else ""
                out.append(f"- **{title}**: {shown}{more}")
        out.append("")
    for s in report.failed:
        out.append(f"**Could not render {s.title}**:")
        out += ["```", *s.errors[:50], "```", ""]
    return "\n".join(out)


def _md_cell(a: Demand, b: Demand, attr: str, fmt: Callable[[Any], str]) -> str:
    text = _cell(a, b, attr, fmt)
    return f"**{text}**" if getattr(a, attr) != getattr(b, attr) else text


def _md_section_title(s: Section) -> str:
    note = f" — {s.note}" if s.note else ""
    return f"\n#### {s.project} · {s.env_name} ({_md_code(s.path or '.')}){note}\n\n"


def _md_change(c: ResourceChange) -> str:
    bits = [f"<code>{SYMBOL[c.op]} {c.id}</code>"]
    if c.previous:
        bits.append(f"new version of <code>{c.previous}</code>")
    elif c.replace:
        bits.append("**replace**")
    if c.origin:
        bits.append(f"{c.origin.file}:{c.origin.line}")
    if c.op == "remove":
        return f"- {' · '.join(bits)} (removed)\n"
    body = "\n".join(change_lines(c)).replace("```", "`\u200b``")
    return (f"<details><summary>{' · '.join(bits)}</summary>\n\n```diff\n{body}\n```\n</details>\n")


def render_markdown(report: DiffReport, limit: int = COMMENT_LIMIT, full_path: str | None = None
                    ) -> tuple[str, bool]:
    """(markdown, truncated). At most LIMIT characters; when cut, the marker names FULL_PATH."""
    header = _md_header(report)
    chunks: list[tuple[str, str]] = []  # (section title, change block)
    for s in report.changed:
        for c in s.changes:
            chunks.append((_md_section_title(s), _md_change(c)))
    full = header + _join(chunks)
    if len(full) <= limit:
        return full, False
    total = len(chunks)

    def marker(shown: int) -> str:
        where = f" The full diff is in {_md_code(full_path)}." if full_path else ""
        return (f"\n---\n**✂️ Diff truncated**: showing {shown} of {total} resource changes; the rest did not fit "
                f"the {limit:,}-character comment limit.{where}\n")

    out = header[: max(0, limit - len(marker(0)))]
    shown = 0
    title = ""
    for sec, block in chunks:
        piece = (sec if sec != title else "") + block
        if len(out) + len(piece) + len(marker(shown + 1)) > limit:
            break
        out += piece
        title = sec
        shown += 1
    return out + marker(shown), True


def _join(chunks: list[tuple[str, str]]) -> str:
    out, title = [], ""
    for sec, block in chunks:
        if sec != title:
            out.append(sec)
            title = sec
        out.append(block)
    return "".join(out)


# ------------------------------------------------------------------------------------------------ json

def render_json(report: DiffReport) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
