"""Serving checks: a runtime that serves the model's format (as KServe selects it), replicas in order,
canary and autoscaling rules of the stack's KServe."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from kfconf.components.serving.runtimes import auto_runtime, parse_format, runtime_supports
from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import env_checks, image_check, warn
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack
from kfconf.spec.validate import check_ref

HPA_METRICS = ("cpu", "memory")
"""Standard mode scales with an HPA; concurrency and rps need Knative (KPA)."""


def model_format(project: Project, entry: object) -> str | None:
    """The entry's model format: given, or taken from the registered model it serves."""
    fmt = getattr(entry, "format", None)
    if fmt:
        return str(fmt)
    model = str(getattr(entry, "model", ""))
    if model.startswith("registry/"):
        reg = project.entry_fields(model, "format")
        if reg is not None:
            return reg.format if isinstance(reg.format, str) else reg.format.name
    return None


def format_version(project: Project, entry: object) -> str | None:
    """The format version KServe matches on: the registered model's, unless the entry names a format."""
    model = str(getattr(entry, "model", ""))
    if getattr(entry, "format", None) or not model.startswith("registry/"):
        return None
    reg = project.entry_fields(model, "format")
    return None if reg is None or isinstance(reg.format, str) else reg.format.version


def _served(stack: Stack, fmt: str) -> str:
    """`kserve-torchserve (pytorch:1 over v1, v2, grpc-v2)` for the runtimes that know the format name."""
    out = []
    for name, rt in sorted(stack.runtimes.get("serving", {}).items()):
        formats = [f for f in rt.get("formats") or [] if parse_format(str(f))[0] == fmt]
        if formats:
            out.append(f"{name} ({', '.join(formats)} over {', '.join(rt.get('protocols') or ['v1', 'v2'])})")
    return "; ".join(out)


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    for s in project.entries("serving"):
        base = project.entry_path("serving", s.name)
        if s.replicas.max and s.replicas.min > s.replicas.max:
            p = (*base, "replicas")
            loc = project.loc(p)
            moved = [project.loc((*p, part)) for part in ("min", "max")]
            # a bound an overlay set is reported at the overlay's line
            loc = next((there for there in moved if there.file != loc.file), loc)
            yield Diagnostic("KF104", f"expected min ≤ max, got min {s.replicas.min} and max {s.replicas.max}",
                             loc, p)
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
        if s.canary is not None and s.canary.model is None and not s.model.startswith("registry/"):
            yield warn("KF205", "the canary serves the same model as the stable predictor; give canary.model",
                       project, (*base, "canary"))
        if stack is not None:
            yield from _mode_checks(project, stack, s, base)
        if fmt is None:
            continue
        version = format_version(project, s)
        if s.custom_runtime is not None:
            names = {parse_format(f)[0] for f in s.custom_runtime.formats}
            if fmt not in names:
                p = (*base, "customRuntime", "formats")
                yield Diagnostic("KF205", f"expected the custom runtime to serve the model's format '{fmt}', got "
                                 f"{', '.join(s.custom_runtime.formats)}", project.loc(p), p)
            if s.protocol and s.protocol not in s.custom_runtime.protocols:
                p = (*base, "protocol")
                yield Diagnostic("KF205", f"expected a protocol of the custom runtime "
                                 f"({', '.join(s.custom_runtime.protocols)}), got '{s.protocol}'", project.loc(p), p)
            continue
        if stack is None:
            continue
        yield from _runtime_checks(project, stack, s, base, fmt, version)


def _runtime_checks(project: Project, stack: Stack, s: Any, base: tuple[str | int, ...], fmt: str,
                    version: str | None) -> Iterator[Diagnostic]:
    runtimes = stack.runtimes.get("serving", {})
    runtime, protocol = s.runtime, s.protocol
    want = f"{fmt}:{version}" if version else fmt
    over = f" over protocol {protocol}" if protocol else ""
    if runtime is not None:
        p = (*base, "runtime")
        if runtime not in runtimes:
            close = difflib.get_close_matches(runtime, sorted(runtimes), n=1)
            yield Diagnostic("KF201", f"expected a serving runtime of stack {stack.name}, got {runtime!r}",
                             project.loc(p), p, hint=f"did you mean '{close[0]}'?" if close else None)
            return
        if not runtime_supports(stack, runtime, fmt, version, protocol):
            yield Diagnostic("KF305", f"expected a runtime that serves {want}{over}, got {runtime!r}",
                             project.loc(p), p, hint=_served(stack, fmt) or None)
            return
        chosen = str(runtime)
    else:
        auto = auto_runtime(stack, fmt, version, protocol)
        if auto is None:
            known = sorted({parse_format(str(f))[0] for rt in runtimes.values() for f in rt.get("formats", [])})
            close = difflib.get_close_matches(fmt, known, n=1)
            served = _served(stack, fmt)
            p = (*base, "format") if s.format or version is None else (*base, "model")
            yield Diagnostic("KF305", f"expected a model format{over} served by stack {stack.name}, got "
                             f"'{want}'", project.loc(p), p,
                             hint=f"runtimes for '{fmt}': {served}" if served else
                             f"did you mean '{close[0]}'?" if close else
                             "define customRuntime for a model server the stack does not ship")
            return
        chosen = auto
    if s.resources.gpu and not runtimes[chosen].get("gpu", True):
        p = (*base, "resources", "gpu")
        yield Diagnostic("KF203", f"expected no GPUs: runtime {chosen} serving '{fmt}' cannot use them",
                         project.loc(p), p)


def _mode_checks(project: Project, stack: Stack, s: Any, base: tuple[str | int, ...]) -> Iterator[Diagnostic]:
    kserve = stack.component("kserve")
    mode = s.deployment_mode or kserve.get("deploymentMode", "Standard")
    if s.canary is not None:
        if kserve.get("canary", "percent") != "list" and mode == "Standard":
            p = (*base, "canary")
            yield Diagnostic("KF305", f"expected deploymentMode: Knative for a canary on stack {stack.name} "
                             f"(KServe {kserve.get('version', '?')} splits traffic between Knative revisions "
                             "only), got Standard", project.loc(p), p,
                             hint="set deploymentMode: Knative on this entry, or drop the canary")
        elif kserve.get("canary") == "list" and mode == "Standard" and s.replicas.min < 1:
            p = (*base, "replicas")
            yield Diagnostic("KF205", "expected replicas.min ≥ 1 with a canary: a canary predictor runs fixed "
                             "replicas, at most the stable predictor's minimum", project.loc(p), p)
    if s.autoscaling is not None and s.autoscaling.metric == "cpu" and s.autoscaling.target > 100:
        p = (*base, "autoscaling", "target")
        yield Diagnostic("KF104", f"expected a CPU utilization target of 1-100 (percent), got "
                         f"{s.autoscaling.target}", project.loc(p), p)
    if s.autoscaling is not None and mode == "Standard" and s.autoscaling.metric not in HPA_METRICS:
        p = (*base, "autoscaling", "metric")
        yield Diagnostic("KF205", f"expected cpu or memory in Standard mode (an HPA scales it), got "
                         f"'{s.autoscaling.metric}'", project.loc(p), p,
                         hint="concurrency and rps need deploymentMode: Knative")
