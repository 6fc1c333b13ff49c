"""`kfconf build [PATH] -e ENV`: render every resource of a project for one environment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kfconf.cli.common import find_projects, one_project, print_diagnostics


def add(sub: Any) -> None:
    p = sub.add_parser("build", help="render a project's Kubernetes resources for one environment")
    p.add_argument("path", nargs="?", default=".", metavar="PATH")
    p.add_argument("-e", "--env", help="environment (overlays/ENV.yaml); default: the base spec")
    p.add_argument("--stack", help="build for this stack instead of the spec's")
    p.add_argument("-o", "--output", default="-", metavar="DIR",
                   help="write a tree with kustomization.yaml to DIR, or '-' for one YAML stream (default)")
    p.add_argument("--explain", action="store_true", help="say where every field's value came from")
    p.add_argument("--all", action="store_true",
                   help="monorepo mode: every project under PATH × every environment (or each -e) into "
                        "DIR/PROJECT/ENV (needs -o DIR)")
    p.add_argument("--cache", action="store_true",
                   help="reuse unchanged builds from the project's .kfconf/cache (content-addressed)")
    p.add_argument("--cache-dir", metavar="DIR", help="like --cache, with the cache in DIR")


def _cache(args: argparse.Namespace, project_dir: Path) -> Any:
    if not (args.cache or args.cache_dir):
        return None
    from kfconf.build.cache import BuildCache

    return BuildCache(Path(args.cache_dir)) if args.cache_dir else BuildCache.for_project(project_dir)


def run(args: argparse.Namespace) -> int:
    from kfconf.build import build_project
    from kfconf.build.emit import dump_stream, render_tree, write_tree

    if args.all:
        return run_all(args)
    project_dir = one_project(args.path)
    result = build_project(project_dir, args.env, args.stack, cwd=Path.cwd(), cache=_cache(args, project_dir))
    print_diagnostics(result.diagnostics)
    files = result.files  # the emitted tree, when it came through the cache
    if args.explain:
        from kfconf.build.explain import explain_text

        sys.stdout.write(explain_text(result))
    elif args.output == "-":
        sys.stdout.write(dump_stream(result.resources) if files is None else
                         "".join("---\n" + text for name, text in files.items() if name != "kustomization.yaml"))
    else:
        files = files if files is not None else render_tree(result.resources)
        write_tree(Path(args.output), files)
        print(f"wrote {len(files) - 1} resources to {args.output}", file=sys.stderr)
    return 0


def run_all(args: argparse.Namespace) -> int:
    """Build every project × environment into OUT/<project path under PATH>/<env>; report every failure."""
    from kfconf.build import build_project
    from kfconf.build.emit import render_tree, write_tree
    from kfconf.core.errors import Diagnostic, FindingsError, UsageError
    from kfconf.spec.environments import environments

    if args.output == "-" or args.explain:
        raise UsageError("--all writes one tree per project and environment: give -o DIR (and no --explain)")
    root, out = Path(args.path), Path(args.output)
    cwd = Path.cwd()
    failed: list[Diagnostic] = []
    built = unchanged = 0
    for project_dir in find_projects([args.path]):
        envs: list[str | None] = [args.env] if args.env else list(environments(project_dir)) or [None]
        rel = project_dir.relative_to(root) if project_dir.is_relative_to(root) else Path(project_dir.name)
        cache = _cache(args, project_dir)
        for env in envs:
            try:
                result = build_project(project_dir, env, args.stack, cwd=cwd, cache=cache)
            except FindingsError as e:
                failed.extend(e.diagnostics)
                continue
            print_diagnostics(result.diagnostics)
            files = result.files if result.files is not None else render_tree(result.resources)
            target = out / rel / (env or "base")
            if _same_tree(target, files):
                unchanged += 1
            else:
                write_tree(target, files)
                built += 1
    print_diagnostics(failed)
    print(f"wrote {built} trees to {out}, {unchanged} unchanged" + (f"; {len(failed)} problems" if failed else ""),
          file=sys.stderr)
    return 1 if any(d.severity.value == "error" for d in failed) else 0


def _same_tree(target: Path, files: dict[str, str]) -> bool:
    """Whether `target` holds exactly `files` already (then it is not rewritten)."""
    if not target.is_dir():
        return False
    present = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    if present != sorted(files):
        return False
    return all((target / name).read_text(encoding="utf-8") == text for name, text in files.items())
