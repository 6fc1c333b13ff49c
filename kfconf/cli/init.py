"""`kfconf init DIR`: scaffold a project that validates at once."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from kfconf.core.errors import UsageError


def add(sub: Any) -> None:
    p = sub.add_parser("init", help="scaffold a new project")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--name", help="project name (default: the folder name)")
    p.add_argument("--namespace", help="Kubeflow profile namespace (default: the project name)")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")


def run(args: argparse.Namespace) -> int:
    import re

    target = Path(args.dir)
    if target.exists() and any(target.iterdir()) and not args.force:
        raise UsageError(f"{target} is not empty; use --force to write into it")
    name = args.name or re.sub(r"[^a-z0-9-]+", "-", target.resolve().name.lower()).strip("-") or "my-project"
    if not re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", name):
        name = f"p-{name}".strip("-")
    namespace = args.namespace or name
    template = resources.files("kfconf") / "data" / "template"
    for item in sorted(_walk(template)):
        rel = item[0]
        text = item[1].replace("{{name}}", name).replace("{{namespace}}", namespace)
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    print(f"created {target}/ml-project.yaml — next: kfconf validate {target}", file=sys.stderr)
    return 0


def _walk(root: Any, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for child in root.iterdir():
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            out.extend(_walk(child, rel + "/"))
        elif not child.name.endswith(".pyc"):
            out.append((rel.removesuffix(".tmpl"), child.read_text(encoding="utf-8")))
    return out
