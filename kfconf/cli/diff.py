"""`kfconf diff [PATH] --base REV [--head REV]`: what a change does to the cluster's desired state.

Exit 0: no difference. 1: differences. 2: could not run (a revision missing from a shallow clone,
a project that does not render at one of the revisions, wrong usage).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("diff", help="compare the rendered resources of two git revisions, with their impact",
                       description="Render the projects whose inputs changed between two git revisions (no "
                                   "checkout) and compare them resource by resource and field by field.")
    p.add_argument("path", nargs="?", default=".", metavar="PATH",
                   help="a project, or a folder of projects, inside a git repository (default: .)")
    p.add_argument("--base", required=True, metavar="REV", help="the revision to compare against, e.g. origin/main")
    p.add_argument("--head", metavar="REV", help="the revision to compare (default: the work tree)")
    p.add_argument("--merge-base", action="store_true",
                   help="compare against the merge base of BASE and HEAD, as a pull request's diff does")
    p.add_argument("-e", "--env", action="append", metavar="ENV",
                   help="environments to compare; 'base' is the spec without overlays "
                        "(default: base and every overlay)")
    p.add_argument("--stack", help="render for this stack instead of each spec's")
    p.add_argument("-o", "--output", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--output-file", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--max-length", type=int, default=65_536, metavar="N",
                   help="Markdown only: cut the report to N characters (default: 65536, GitHub's comment limit)")
    p.add_argument("--full-output", metavar="FILE",
                   help="Markdown only: where the full report goes when cut (default: FILE.full.md beside "
                        "--output-file, else kfconf-diff.full.md)")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="colour the text report (auto: on a terminal, unless NO_COLOR is set)")


def _full_path(args: argparse.Namespace) -> Path:
    if args.full_output:
        return Path(args.full_output)
    if args.output_file:
        out = Path(args.output_file)
        return out.with_name(out.stem + ".full" + (out.suffix or ".md"))
    return Path("kfconf-diff.full.md")


def run(args: argparse.Namespace) -> int:
    from kfconf.core.errors import UsageError
    from kfconf.review.compare import compare
    from kfconf.review.diffreport import render_json, render_markdown, render_text

    if args.max_length < 1_000:
        raise UsageError(f"--max-length: expected at least 1000 characters, got {args.max_length}")
    envs = None if not args.env else [None if e == "base" else e for e in args.env]
    report = compare(Path(args.path), args.base, args.head, envs, args.merge_base, args.stack)
    for s in report.failed:
        for e in s.errors:
            print(e, file=sys.stderr)
    for env in envs or []:
        if report.affected and not any(s.env == env for s in report.sections):
            print(f"kfconf: warning: no project affected by this change has the environment {env or 'base'!r}",
                  file=sys.stderr)
    if args.output == "json":
        text = render_json(report)
    elif args.output == "markdown":
        full_path = _full_path(args)
        text, cut = render_markdown(report, args.max_length, str(full_path))
        if cut:
            full, _ = render_markdown(report, sys.maxsize)
            full_path.parent.mkdir(parents=True, exist_ok=True)
            full_path.write_text(full, encoding="utf-8")
            print(f"kfconf: the Markdown report was cut to {args.max_length} characters; the full report is in "
                  f"{full_path}", file=sys.stderr)
    else:
        to_tty = args.output_file is None and sys.stdout.isatty()
        color = args.color == "always" or (args.color == "auto" and to_tty and not os.environ.get("NO_COLOR"))
        text = render_text(report, color)
    if args.output_file:
        out = Path(args.output_file)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return report.exit_code()
