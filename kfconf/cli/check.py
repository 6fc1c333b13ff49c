"""`kfconf check [PATH…] [--policy FILE]`: policy rules as a CI gate, reported at the spec line.

Exit 0: no finding at error level. 1: findings at error level (validation errors count). 2: could not
run (an invalid policy file, wrong usage).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

FORMATS = ["text", "json", "sarif", "github", "junit"]


def add(sub: Any) -> None:
    p = sub.add_parser("check", help="check projects against built-in rules and a policy file",
                       description="Build each project for each environment and evaluate the built-in rules and "
                                   "the policy file's rules; findings point at the spec line that caused them.")
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    p.add_argument("--policy", metavar="FILE", help="policy file: rule settings, custom rules, exemptions")
    p.add_argument("-e", "--env", action="append", metavar="ENV",
                   help="environments to check; 'base' is the spec without overlays (default: base and every overlay)")
    p.add_argument("-o", "--output", choices=FORMATS, default="text")
    p.add_argument("--output-file", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--report", action="append", default=[], metavar="FORMAT=FILE",
                   help="also write FORMAT to FILE from the same run (repeatable), e.g. sarif=kfconf.sarif")
    p.add_argument("--list-rules", action="store_true", help="list the built-in rules and exit")


def run(args: argparse.Namespace) -> int:
    from kfconf.cli.common import find_projects
    from kfconf.core.errors import UsageError
    from kfconf.review.checker import run_checks
    from kfconf.review.findings import render
    from kfconf.review.policy import Policy, load_policy
    from kfconf.review.rules import RULES

    if args.list_rules:
        for r in RULES:
            print(f"{r.code}  {r.name:<20} {r.severity.value:<8} {r.rationale}")
        return 0
    extra: list[tuple[str, Path]] = []
    for spec in args.report:
        fmt, sep, file = spec.partition("=")
        if not sep or fmt not in FORMATS or not file:
            raise UsageError(f"--report: expected FORMAT=FILE with FORMAT one of {', '.join(FORMATS)}, got {spec!r}")
        extra.append((fmt, Path(file)))
    cwd = Path.cwd()
    policy = load_policy(Path(args.policy), cwd) if args.policy else Policy()
    envs = None if not args.env else [None if e == "base" else e for e in args.env]
    report = run_checks(find_projects(args.paths), policy, envs, cwd)
    text = render(report, args.output)
    for fmt, file in extra:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(render(report, fmt), encoding="utf-8")
    if args.output_file:
        out = Path(args.output_file)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        if args.output != "text":
            sys.stderr.write(render(report, "text"))
    else:
        sys.stdout.write(text)
        if args.output in ("json", "sarif", "junit"):
            print(report.summary(), file=sys.stderr)
    return report.exit_code()
