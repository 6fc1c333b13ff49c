"""`kfconf build [PATH] -e ENV`: render every resource of a project for one environment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kfconf.cli.common import one_project, print_diagnostics


def add(sub: Any) -> None:
    p = sub.add_parser("build", help="render a project's Kubernetes resources for one environment")
    p.add_argument("path", nargs="?", default=".", metavar="PATH")
    p.add_argument("-e", "--env", help="environment (overlays/ENV.yaml); default: the base spec")
    p.add_argument("--stack", help="build for this stack instead of the spec's")
    p.add_argument("-o", "--output", default="-", metavar="DIR",
                   help="write a tree with kustomization.yaml to DIR, or '-' for one YAML stream (default)")
    p.add_argument("--explain", action="store_true", help="say where every field's value came from")


def run(args: argparse.Namespace) -> int:
    from kfconf.build import build_project
    from kfconf.build.emit import dump_stream, render_tree, write_tree

    result = build_project(one_project(args.path), args.env, args.stack, cwd=Path.cwd())
    print_diagnostics(result.diagnostics)
    if args.explain:
        from kfconf.build.explain import explain_text

        sys.stdout.write(explain_text(result))
    elif args.output == "-":
        sys.stdout.write(dump_stream(result.resources))
    else:
        write_tree(Path(args.output), render_tree(result.resources))
        print(f"wrote {len(result.resources)} resources to {args.output}", file=sys.stderr)
    return 0
