"""`kfconf validate [PATH…]`: schema and semantic checks of one project or a whole monorepo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kfconf.cli.common import dump_json, find_projects, print_diagnostics, summarize
from kfconf.core.errors import Diagnostic, FindingsError, Severity
from kfconf.core.paths import shown


def add(sub: Any) -> None:
    p = sub.add_parser("validate", help="validate specs and overlays, reporting every problem at its line")
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    p.add_argument("-e", "--env", action="append", help="environments to check (default: base and every overlay)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")


def validate_project(project_dir: Path, envs: list[str] | None, cwd: Path) -> list[Diagnostic]:
    from kfconf.spec.environments import SPEC_FILE, environments, resolve
    from kfconf.spec.loader import load
    from kfconf.spec.reuse import Reuse
    from kfconf.spec.validate import validate

    spec_path = project_dir / SPEC_FILE
    spec_file = shown(spec_path, cwd, real=True)
    try:
        doc = load(spec_path, spec_file)
    except FindingsError as e:
        return e.diagnostics
    out: dict[tuple[object, ...], Diagnostic] = {}
    overlays: dict[str, Any] = {}
    done: dict[str, Any] = {}  # environments resolved so far: a child starts from its parent's result
    reuse = Reuse()  # the environments share most parts of the spec: each part's checks run once
    for env in [None, *(envs if envs is not None else environments(project_dir))]:
        try:
            resolved = (done.get(env) if env is not None else None) or \
                resolve(project_dir, env, cwd, spec=doc, overlays=overlays, resolved=done)
            if env is not None:
                done[env] = resolved
            _, _, diags = validate(resolved.data, resolved.source, project_dir, spec_file, env,
                                   loaded=resolved.diagnostics, reuse=reuse,
                                   credentials=resolved.could_hold_credentials)
        except FindingsError as e:
            diags = e.diagnostics
        for d in diags:  # an error in the base shows once, not once per environment
            out.setdefault((d.code, d.loc, d.path, d.message), d)
    return sorted(out.values(), key=Diagnostic.sort_key)


def run(args: argparse.Namespace) -> int:
    cwd = Path.cwd()
    projects = find_projects(args.paths)
    all_diags: list[Diagnostic] = []
    for project_dir in projects:
        all_diags.extend(validate_project(project_dir, args.env, cwd))
    if args.output == "json":
        dump_json({"projects": len(projects), "diagnostics": [d.to_json() for d in all_diags]})
    else:
        print_diagnostics(all_diags)
        print(f"validated {len(projects)} project{'s' * (len(projects) != 1)}: {summarize(all_diags)}",
              file=sys.stderr)
    return 1 if any(d.severity is Severity.ERROR for d in all_diags) else 0
