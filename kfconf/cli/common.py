"""Helpers shared by the verbs: finding projects, printing diagnostics, output formats."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from kfconf.core.errors import Diagnostic, Severity, UsageError
from kfconf.spec.environments import SPEC_FILE

SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".kfconf", ".tox"}


def find_projects(paths: Iterable[str]) -> list[Path]:
    """Each PATH is a spec file, a project folder, or a folder searched for ml-project.yaml files."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append(p.parent)
        elif os.path.lexists(p / SPEC_FILE):  # even if unreadable: then validate says why (KF005)
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(_walk(p)))
        else:
            raise UsageError(f"{raw}: no such file or folder")
    if not out:
        raise UsageError(f"no {SPEC_FILE} found under {', '.join(paths)}")
    return list(dict.fromkeys(out))


def _walk(root: Path) -> Iterator[Path]:
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name not in SKIP_DIRS and not child.name.startswith("."):
            if (child / SPEC_FILE).is_file():
                yield child
            yield from _walk(child)


def one_project(path: str | None) -> Path:
    found = find_projects([path or "."])
    if len(found) != 1:
        raise UsageError(f"expected one project, found {len(found)} under {path or '.'}; name one")
    return found[0]


def print_diagnostics(diags: Iterable[Diagnostic], stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    for d in diags:
        print(d.render(), file=stream)


def summarize(diags: list[Diagnostic]) -> str:
    e = sum(d.severity is Severity.ERROR for d in diags)
    w = sum(d.severity is Severity.WARNING for d in diags)
    return f"{e} error{'s' * (e != 1)}, {w} warning{'s' * (w != 1)}"


def dump_json(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
