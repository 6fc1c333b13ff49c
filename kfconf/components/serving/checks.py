"""Serving checks: a runtime that serves the model's format, replicas in order, canary rules."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import env_checks, image_check
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack
from kfconf.spec.validate import check_ref


def model_format(project: Project, entry: object) -> str | None:
    """The entry's model format: given, or taken from the registered model it serves."""
    fmt = getattr(entry, "format", None)
    if fmt:
        return str(fmt)
    model = str(getattr(entry, "model", ""))
    if model.startswith("registry/"):
        reg = project.entry(model)
        if reg is not None:
            return reg.format if isinstance(reg.format, str) else reg.format.name
    return None


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    for s in project.entries("serving"):
        base = project.entry_path("serving", s.name)
        if s.replicas.max and s.replicas.min > s.replicas.max:
            p = (*base, "replicas")
            yield Diagnostic("KF104", f"expected min ≤ max, got min {s.replicas.min} and max {s.replicas.max}",
                             project.loc(p), p)
        yield from env_checks(project, (*base, "env"), s.env)
        if s.transformer is not None:
            yield from image_check(project, (*base, "transformer", "image"), s.transformer.image)
            yield from env_checks(project, (*base, "transformer", "env"), s.transformer.env)
        if s.canary is not None and s.canary.model is not None:
            yield from check_ref(project, (*base, "canary", "model"), s.canary.model, ("registry", "training"),
                                 uri_ok=True)
        fmt = model_format(project, s)
        if fmt is None:
            p = (*base, "format")
            yield Diagnostic("KF102", "expected a model format (format: sklearn, pytorch, huggingface …) for a "
                             "model given by URI", project.loc(p), p)
        if s.runtime is not None and s.custom_runtime is not None:
            p = (*base, "runtime")
            yield Diagnostic("KF205", "expected runtime or customRuntime, not both", project.loc(p), p)
        if stack is None or fmt is None or s.custom_runtime is not None:
            continue
        runtimes = stack.runtimes.get("serving", {})
        if s.runtime is not None:
            if s.runtime not in runtimes:
                close = difflib.get_close_matches(s.runtime, sorted(runtimes), n=1)
                p = (*base, "runtime")
                yield Diagnostic("KF201", f"expected a serving runtime of stack {stack.name}, got {s.runtime!r}",
                                 project.loc(p), p, hint=f"did you mean '{close[0]}'?" if close else None)
            continue
        if not any(f.split(":")[0] == fmt for rt in runtimes.values() for f in rt.get("formats", [])):
            known = sorted({f.split(":")[0] for rt in runtimes.values() for f in rt.get("formats", [])})
            close = difflib.get_close_matches(fmt, known, n=1)
            p = (*base, "format")
            yield Diagnostic("KF305", f"expected a model format served by stack {stack.name}, got '{fmt}'",
                             project.loc(p), p, hint=f"did you mean '{close[0]}'?" if close else
                             "define customRuntime for a model server the stack does not ship")
        if s.resources.gpu and not any(fmt in str(rt.get("formats")) and rt.get("gpu", True)
                                       for rt in runtimes.values()):
            p = (*base, "resources", "gpu")
            yield Diagnostic("KF203", f"expected no GPUs: no runtime serving '{fmt}' can use them",
                             project.loc(p), p)
