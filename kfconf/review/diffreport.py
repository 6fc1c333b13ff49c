"""Renderings of a DiffReport: text (coloured on a terminal), Markdown for a PR comment, JSON.

The Markdown fits GitHub's comment limit (65,536 characters): the impact summary always comes
first, then one collapsible block per resource until the budget is spent, then a marker saying how
much was left out and where the full diff was written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kfconf.review.compare import DiffReport, Section
from kfconf.review.diff import FieldChange, ResourceChange
from kfconf.review.impact import Demand, Impact
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


def _delta(a: Demand, b: Demand, fmt: Callable[[Any], str], attr: str) -> tuple[str, str, str]:
    x, y = getattr(a, attr), getattr(b, attr)
    d = y - x
    sign = "+" if d > 0 else ""
    return fmt(x), fmt(y), (f"{sign}{fmt(d)}" if d else "±0")


def demand_rows(imp: Impact) -> list[tuple[str, str, str, str]]:
    return [("GPUs", *_delta(imp.before, imp.after, fmt_gpu, "gpu")),
            ("CPU (cores)", *_delta(imp.before, imp.after, fmt_cpu, "cpu")),
            ("memory", *_delta(imp.before, imp.after, fmt_memory, "memory"))]


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
    imp = report.impact
    if report.changed:
        out.append("")
        out.append("Requested when every workload runs at full parallelism:")
        for name, x, y, d in demand_rows(imp):
            out.append(f"  {name:<12} {x:>10} → {y:<10} ({d})")
        for t in imp.rollouts:
            out.append(p(f"ROLLOUT  {t.id}: {t.describe()}", "1;35"))
        for t in imp.traffic:
            if not t.rollout:
                out.append(f"traffic  {t.id}: {t.describe()}")
        for rid, path, why in imp.replaced:
            out.append(p(f"REPLACE  {rid}: {path} ({why}); the syncer deletes and recreates it", "1;31"))
        for r in imp.replicas:
            out.append(f"{r.what:<8} {r.id}: {r.path}: {r.before} → {r.after}")
        if imp.added:
            out.append(p(f"added    {_capped(imp.added)}", "32"))
        if imp.removed:
            out.append(p(f"removed  {_capped(imp.removed)}", "31"))
    for s in report.sections:
        if not (s.changes or s.errors):
            continue
        out.append("")
        out.append(p(f"== {s.title}" + (f" [{s.note}]" if s.note else ""), "1"))
        for e in s.errors:
            out.append(p(e, "31"))
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
    imp = report.impact
    out = [f"### kfconf diff: {_headline(report)}",
           f"base {_md_code(b)} → head {_md_code(h)} · {len(report.affected)} of {report.projects} "
           "project(s) affected by the change", ""]
    if report.changed:
        out += ["| requested (all workloads at full parallelism) | before | after | change |",
                "|---|---:|---:|---:|"]
        for name, x, y, d in demand_rows(imp):
            out.append(f"| {name} | {x} | {y} | {'**' + d + '**' if d != '±0' else d} |")
        out.append("")
        for t in imp.rollouts:
            out += ["> [!WARNING]", f"> **Rollout**: {_md_code(t.id)} {t.describe()}", ""]
        if imp.replaced:
            out.append("> [!CAUTION]")
            out.append("> **Replace**: these changes touch immutable fields; the syncer deletes and recreates "
                       "the resource (a running job restarts from scratch)")
            for rid, path, why in imp.replaced[:LIST_LIMIT]:
                out.append(f"> - {_md_code(rid)} {_md_code(path)}: {why}")
            if len(imp.replaced) > LIST_LIMIT:
                out.append(f"> - … and {len(imp.replaced) - LIST_LIMIT} more")
            out.append("")
        for t in imp.traffic:
            if not t.rollout:
                out.append(f"- **Traffic**: {_md_code(t.id)} {t.describe()}")
        for r in imp.replicas[:LIST_LIMIT]:
            out.append(f"- **{r.what.capitalize()}**: {_md_code(r.id)} {_md_code(r.path)}: {r.before} → {r.after}")
        if imp.added:
            out.append(f"- **Added**: {_capped(imp.added, _md_code)}")
        if imp.removed:
            out.append(f"- **Removed**: {_capped(imp.removed, _md_code)}")
        out.append("")
    for s in report.failed:
        out.append(f"**Could not render {s.title}**:")
        out += ["```", *s.errors[:50], "```", ""]
    return "\n".join(out)


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
