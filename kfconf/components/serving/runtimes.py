"""Which serving runtime KServe will pick for a model: the stack's `runtimes.serving` replayed through
KServe's own selection (pkg/apis/serving/v1beta1/predictor_model.go GetSupportingRuntimes):

- a runtime supports a model when its format labels contain `mt:<name>` (or `mt:<name>:<version>` when the
  model gives a version — an exact string match); without an explicit `runtime`, only formats with
  autoSelect count;
- the model's protocol (default v1) must be one of the runtime's protocolVersions (a runtime listing none
  takes v1 and v2);
- disabled, multi-model and multi-node (workerSpec) runtimes are skipped for a single-node predictor;
- the highest priority wins (ties: by name here; KServe breaks them by creation time).

Stack entry fields: formats ["name:version", …], protocols, autoSelect (default true), manual (formats of
an auto-select runtime that are not auto-selected), priority, gpu, disabled, multiModel, multiNode.
"""

from __future__ import annotations

from typing import Any

from kfconf.spec.stacks import Stack

DEFAULT_PROTOCOL = "v1"


def parse_format(text: str) -> tuple[str, str | None]:
    name, _, version = text.partition(":")
    return name, version or None


def labels(rt: dict[str, Any], explicit: bool) -> set[str]:
    out: set[str] = set()
    manual = set(rt.get("manual") or [])
    for fmt in rt.get("formats") or []:
        if not explicit and (not rt.get("autoSelect", True) or fmt in manual):
            continue
        name, version = parse_format(str(fmt))
        out.add(name)
        if version:
            out.add(f"{name}:{version}")
    return out


def protocol_ok(rt: dict[str, Any], protocol: str | None) -> bool:
    want = protocol or DEFAULT_PROTOCOL
    protocols = rt.get("protocols") or []
    return want in protocols if protocols else want in ("v1", "v2")


def supports(rt: dict[str, Any], fmt: str, version: str | None, protocol: str | None, explicit: bool) -> bool:
    if rt.get("disabled") or rt.get("multiModel") or rt.get("multiNode"):
        return False
    want = f"{fmt}:{version}" if version else fmt
    return want in labels(rt, explicit) and protocol_ok(rt, protocol)


def supporting(stack: Stack, fmt: str, version: str | None = None, protocol: str | None = None) -> list[str]:
    """The stack's runtimes KServe would auto-select for the model, best first."""
    runtimes = stack.runtimes.get("serving", {})

    def compute() -> list[str]:
        found = [name for name, rt in runtimes.items() if supports(rt, fmt, version, protocol, explicit=False)]
        return sorted(found, key=lambda n: (-int(runtimes[n].get("priority") or 0), n))

    return list(stack.derived(("serving-runtimes", fmt, version, protocol), compute))


def auto_runtime(stack: Stack, fmt: str, version: str | None = None, protocol: str | None = None) -> str | None:
    found = supporting(stack, fmt, version, protocol)
    return found[0] if found else None


def runtime_supports(stack: Stack, runtime: str, fmt: str, version: str | None = None,
                     protocol: str | None = None) -> bool:
    """An explicitly named runtime serves the model (every format counts, auto-selected or not)."""
    rt = stack.runtime("serving", runtime)
    return rt is not None and supports(rt, fmt, version, protocol, explicit=True)
