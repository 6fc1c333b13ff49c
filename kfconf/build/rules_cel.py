"""The CRDs' own rules outside JSON Schema: CEL `x-kubernetes-validations` and list-map keys.

Rules are lifted out of the CRD with the path of the node they sit on (see schemas_convert) and
evaluated with a real CEL implementation (`common-expression-language`, a Rust interpreter), as
the API server would on create. Covered: every rule that does not read `oldSelf`, i.e. all but the
transition rules (immutability), which only apply to updates. Among them, in the shipped set: the
TrainJob name rules (RFC 1035, ≤ 63), initializer storageUri format, managedBy values,
numProcPerNode, the one-ML-policy rule and `self >= 1` bounds of the runtimes, the JobSet
startupPolicy/dependsOn rule and volumeClaimPolicies without namespace. A rule that fails to
evaluate is a violation, as it is for the API server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from typing import Any

from kfconf.core.source import PathT, describe


@cache
def _program(rule: str) -> Any:
    import cel

    return cel.compile(rule)


def nodes_at(body: Any, pattern: list[str], at: PathT = ()) -> Iterator[tuple[PathT, Any]]:
    """Every (path, value) in `body` matching a pattern of property names and "*" (item or map value)."""
    if not pattern:
        yield at, body
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(body, list):
            for i, v in enumerate(body):
                yield from nodes_at(v, rest, (*at, i))
        elif isinstance(body, dict):
            for k in sorted(body):
                yield from nodes_at(body[k], rest, (*at, k))
    elif isinstance(body, dict) and head in body:
        yield from nodes_at(body[head], rest, (*at, head))


def _field_path(fp: str | None) -> PathT:
    """A rule's `fieldPath` (".spec.foo" or ".items[0]") as path parts."""
    if not fp:
        return ()
    out: list[str | int] = []
    for part in fp.lstrip(".").replace("]", "").split("."):
        name, _, idx = part.partition("[")
        if name:
            out.append(name)
        if idx:
            out.append(int(idx) if idx.isdigit() else idx.strip("'\""))
    return tuple(out)


def cel_violations(rules: list[dict[str, Any]], body: Any) -> Iterator[tuple[PathT, str]]:
    for r in rules:
        try:
            prog = _program(r["rule"])
        except Exception as e:  # a rule this CEL cannot parse is not ours to fail on; it is reported once
            yield (), f"CEL rule {r['rule']!r} could not be compiled here ({type(e).__name__}); not checked"
            continue
        for path, value in nodes_at(body, list(r["path"])):
            try:
                ok = prog.execute({"self": value})
                err = ""
            except Exception as e:
                ok, err = False, str(e).split(":")[0]
            if ok is True:
                continue
            msg = r.get("message") or f"failed rule: {r['rule']}"
            if "messageExpression" in r:
                with contextlib.suppress(Exception):  # the static message stands in
                    msg = str(_program(r["messageExpression"]).execute({"self": value}))
            if err:
                msg += f" (rule could not be evaluated: {err})"
            yield (*path, *_field_path(r.get("fieldPath"))), f"{msg} [CEL: {r['rule']}]"


def list_map_violations(list_maps: list[dict[str, Any]], body: Any) -> Iterator[tuple[PathT, str]]:
    """`x-kubernetes-list-type: map`: the key fields of the items must be unique."""
    for lm in list_maps:
        keys = lm["keys"]
        for path, items in nodes_at(body, list(lm["path"])):
            if not isinstance(items, list):
                continue
            seen: dict[tuple[Any, ...], int] = {}
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                k = tuple(item.get(x) for x in keys)
                if k in seen:
                    shown = ", ".join(f"{x}={describe(v)}" for x, v in zip(keys, k, strict=True))
                    yield (*path, i), f"expected unique entries by {', '.join(keys)}, got a second {shown} " \
                                      f"(first at [{seen[k]}])"
                else:
                    seen[k] = i
