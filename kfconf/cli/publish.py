"""`kfconf publish PATH -e ENV --repo REPO --path DIR`: commit the rendered tree to a GitOps repository.

Exit 0: published, or already up to date. 1: the project has findings (nothing published).
2: git failed (nothing published: the branch moves atomically or not at all).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kfconf.cli.common import one_project, print_diagnostics
from kfconf.core.errors import Diagnostic, ExternalError


def add(sub: Any) -> None:
    p = sub.add_parser("publish", help="commit a project's rendered resources to a folder of a GitOps repository")
    p.add_argument("path", nargs="?", default=".", metavar="PATH", help="the project (default: .)")
    p.add_argument("-e", "--env", help="environment (overlays/ENV.yaml); default: the base spec")
    p.add_argument("--stack", help="build for this stack instead of the spec's")
    p.add_argument("--repo", required=True, help="the GitOps repository: a path (or, with --push, a URL)")
    p.add_argument("--path", dest="folder", required=True, metavar="DIR", help="folder inside the GitOps repository")
    p.add_argument("--branch", default="main")
    p.add_argument("--push", action="store_true",
                   help="--repo is a remote: build the commit in a private clone and push it (retrying on races)")
    p.add_argument("-m", "--message", help="first line of the commit message (the source commit is always named)")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from kfconf.build import build_project
    from kfconf.build.emit import render_tree
    from kfconf.gitops.publish import publish, source_info, summary_line

    project_dir = one_project(args.path)
    result = build_project(project_dir, args.env, args.stack, cwd=Path.cwd())
    print_diagnostics(result.diagnostics)
    source = source_info(project_dir, result.project.name, args.env, result.stack.name)
    try:
        out = publish(render_tree(result.resources), repo=args.repo, path=args.folder, branch=args.branch,
                      source=source, title=args.message, push=args.push)
    except ExternalError as e:  # git refused or failed: nothing was published (the branch moves atomically)
        print_diagnostics([Diagnostic("KF601", f"{e}; nothing published")])
        return e.exit_code
    if args.output == "json":
        from kfconf.cli.common import dump_json

        dump_json({"commit": out.commit, "branch": out.branch, "path": out.path, "base": out.base,
                   "attempts": out.attempts, "source": {"repo": source.repo, "commit": source.commit,
                                                        "dirty": source.dirty},
                   "added": [f for _, f in out.changes.added], "changed": [f for _, f in out.changes.changed],
                   "removed": [f for _, f in out.changes.removed]})
    else:
        print(summary_line(out, args.repo))
        for line in out.changes.lines():
            print(f"  {line}", file=sys.stderr)
    return 0
