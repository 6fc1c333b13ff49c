"""Field sets: what a field manager owns (managedFields, FieldsV1) and comparisons restricted to them.

FieldsV1 is a trie: `f:name` a map key, `k:{"name":"x"}` a list item by its merge keys, `v:value` a set
item, `i:N` a list index, `.` the node itself. Drift is judged only on the fields our manager owns,
so values set by controllers and webhooks never count as drift.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

MISSING: Any = object()


def owned_fields(obj: Mapping[str, Any], manager: str, operation: str | None = "Apply") -> dict[str, Any]:
    """The union of the FieldsV1 tries of `manager` (optionally of one operation) on `obj`."""
    out: dict[str, Any] = {}
    for mf in (obj.get("metadata") or {}).get("managedFields") or []:
        if mf.get("manager") != manager or (operation and mf.get("operation") != operation):
            continue
        if mf.get("subresource"):
            continue
        _merge(out, mf.get("fieldsV1") or {})
    return out


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for k, v in other.items():
        if isinstance(v, Mapping) and v:
            _merge(into.setdefault(k, {}), v)
        else:
            into.setdefault(k, {})


def _child(node: Any, key: str) -> Any:
    kind, _, rest = key.partition(":")
    if kind == "f":
        return node.get(rest, MISSING) if isinstance(node, Mapping) else MISSING
    if not isinstance(node, list):
        return MISSING
    if kind == "k":
        want = json.loads(rest)
        for item in node:
            if isinstance(item, Mapping) and all(item.get(k) == v for k, v in want.items()):
                return item
        return MISSING
    if kind == "v":
        want = json.loads(rest)
        return want if want in node else MISSING
    if kind == "i":
        idx = int(rest)
        return node[idx] if 0 <= idx < len(node) else MISSING
    return MISSING


def differences(a: Any, b: Any, fields: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Paths (`.spec.replicas`, `.spec.containers[name=x].image`) where `a` and `b` differ, within `fields`.

    A leaf of the trie (no children, or only `.`) compares the whole value below it.
    """
    for key, sub in sorted(fields.items()):
        if key == ".":
            continue
        ca, cb = _child(a, key), _child(b, key)
        here = path + _fmt(key)
        if ca is MISSING and cb is MISSING:
            continue
        if ca is MISSING or cb is MISSING:
            yield here
            continue
        if not sub or set(sub) == {"."}:  # a leaf: the whole value below it is owned (scalar, atomic map/list)
            if ca != cb:
                yield here
        else:
            yield from differences(ca, cb, sub, here)


def _fmt(key: str) -> str:
    kind, _, rest = key.partition(":")
    if kind == "f":
        return f".{rest}"
    if kind == "k":
        want = json.loads(rest)
        return "[" + ",".join(f"{k}={v}" for k, v in sorted(want.items())) + "]"
    if kind == "v":
        return f"[={rest}]"
    return f"[{rest}]"


def union(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _merge(out, a)
    _merge(out, b)
    return out


def contains(live: Any, desired: Any) -> bool:
    """Every value `desired` sets is present and equal in `live` (lists: same length, item by item).

    A cheap, conservative no-change test: True means applying `desired` cannot change a value; False
    may be a false alarm (defaulted or normalised values), which the caller settles with a dry-run.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(k in live and contains(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(contains(lv, dv) for lv, dv in zip(live, desired, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    return bool(desired == live)
