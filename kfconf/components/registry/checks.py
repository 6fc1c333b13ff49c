"""Registry checks: a model format the stack can serve, a version that fits a `model-registry://` URI,
and a storage URI for what a training entry produces."""

from __future__ import annotations

from collections.abc import Iterator

from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import warn
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack
from kfconf.spec.types import is_uri


def formats(stack: Stack) -> set[str]:
    runtimes = stack.runtimes.get("serving", {}).values()
    return stack.derived("serving-formats", lambda: {f.split(":")[0] for rt in runtimes for f in rt.get("formats", [])})


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    for entry in project.entries("registry"):
        base = project.entry_path("registry", entry.name)
        fmt = entry.format if isinstance(entry.format, str) else entry.format.name
        if stack is not None and fmt not in formats(stack):
            yield warn("KF305", f"no serving runtime of stack {stack.name} serves format '{fmt}'",
                       project, (*base, "format"))
        if "/" in entry.version:
            p = (*base, "version")
            yield Diagnostic("KF108", f"expected a version without '/' (serving refers to it as "
                             f"model-registry://{entry.name}/VERSION), got {entry.version!r}", project.loc(p), p)
        source = project.entry_fields(entry.from_, "trial") if entry.from_.startswith("tuning/") else None
        trial = getattr(source, "trial", None) or entry.from_
        job = project.entry_fields(trial, "name", "output") if trial.startswith("training/") else None
        output = getattr(job, "output", None)
        if job is not None and output is not None and not is_uri(output):
            p = (*project.entry_path("training", job.name), "output")
            yield Diagnostic("KF108", f"expected a storage URI such as s3://bucket/path (registry/{entry.name} "
                             f"registers it), got {output!r}", project.loc(p), p)
