"""Registry checks: one version per model name, a model format the stack can serve."""

from __future__ import annotations

from collections.abc import Iterator

from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import warn
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack


def formats(stack: Stack) -> set[str]:
    return {f.split(":")[0] for rt in stack.runtimes.get("serving", {}).values() for f in rt.get("formats", [])}


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    for entry in project.entries("registry"):
        base = project.entry_path("registry", entry.name)
        fmt = entry.format if isinstance(entry.format, str) else entry.format.name
        if stack is not None and fmt not in formats(stack):
            yield warn("KF305", f"no serving runtime of stack {stack.name} serves format '{fmt}'",
                       project, (*base, "format"))
