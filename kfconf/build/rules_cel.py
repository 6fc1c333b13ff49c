"""The CRDs' own rules outside JSON Schema: CEL `x-kubernetes-validations` and list-map keys.

Rules are lifted out of the CRD with the path of the node they sit on (see schemas_convert) and
evaluated with a real CEL implementation (`common-expression-language`, a Rust interpreter), as the
API server does on create. Every rule that does not read `oldSelf` is evaluated; transition rules
(immutability after create) apply only to updates and are left to the cluster. In the shipped set:
- TrainJob (2.1, 2.3): metadata.name is an RFC 1035 label of at most 63 characters; managedBy is
  the Trainer's or MultiKueue's; (2.3) initializer storageUri is empty or scheme://…;
- (Cluster)TrainingRuntime: at most one ML policy (2.3: torch/mpi/jax/xgboost/flux; 2.1: torch or
  mpi), numNodes not with a torch elasticPolicy (2.1), numProcPerNode > 0 or auto/cpu/gpu (2.1) and
  the `≥ 1` bounds (2.3), env-injection containerNames without "node" (2.3), the JobSet's InOrder
  startup policy not combined with dependsOn, volumeClaimPolicies templates without a namespace (2.3).
A rule that fails to evaluate is a violation, as it is for the API server. List-map keys
(`x-kubernetes-list-type: map`) must be unique, as the API server requires.
"""

from __future__ import annotations

import contextlib
import re
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


CEL_METHODS = frozenset({"all", "exists", "exists_one", "filter", "map", "size", "contains", "startsWith",
                         "endsWith", "matches", "lowerAscii", "upperAscii", "split", "join", "indexOf"})


@cache
def _fields_used(rule: str) -> frozenset[str] | None:
    """The fields of `self` a rule reads, when it reads `self` only as `self.FIELD`; else None.

    Converting a value to CEL costs in proportion to its size, and a rule on a whole object (the
    TrainJob name rule) needs only its metadata: such a rule gets only the fields it names."""
    names = re.findall(r"\bself\.([A-Za-z_]\w*)", rule)
    bare = re.search(r"\bself\b(?!\.[A-Za-z_])", rule)
    if bare or not names or CEL_METHODS.intersection(names):
        return None
    return frozenset(names)


class Rules:
    """A kind's CEL rules and list-map keys, arranged as a tree of paths so that one walk of an object
    reaches every node any rule applies to."""

    def __init__(self, rules: list[dict[str, Any]], list_maps: list[dict[str, Any]]) -> None:
        self.tree: dict[str, Any] = {}
        for r in rules:
            self._at(r["path"]).setdefault("", []).append(("cel", r))
        for lm in list_maps:
            self._at(lm["path"]).setdefault("", []).append(("listmap", lm))

    def _at(self, path: list[str]) -> dict[str, Any]:
        node = self.tree
        for part in path:
            node = node.setdefault("/" + part, {})
        return node

    def violations(self, body: Any) -> Iterator[tuple[str, PathT, str]]:
        """(code, path, message): KF401 for list-map keys (structural), KF402 for CEL rules."""
        yield from self._walk(self.tree, body, ())

    def _walk(self, tree: dict[str, Any], value: Any, at: PathT) -> Iterator[tuple[str, PathT, str]]:
        for key, sub in tree.items():
            if key == "":
                for what, spec in sub:
                    if what == "cel":
                        for path, msg in _cel_one(spec, value, at):
                            yield "KF402", path, msg
                    else:
                        for path, msg in _list_map_one(spec["keys"], value, at):
                            yield "KF401", path, msg
            elif key == "/*":
                if isinstance(value, list):
                    for i, v in enumerate(value):
                        yield from self._walk(sub, v, (*at, i))
                elif isinstance(value, dict):
                    for k in sorted(value):
                        yield from self._walk(sub, value[k], (*at, k))
            elif isinstance(value, dict) and key[1:] in value:
                yield from self._walk(sub, value[key[1:]], (*at, key[1:]))


def _cel_one(r: dict[str, Any], value: Any, at: PathT) -> Iterator[tuple[PathT, str]]:
    try:
        prog = _program(r["rule"])
    except Exception as e:  # a rule this CEL cannot parse is not ours to fail on; it is reported
        yield at, f"CEL rule {r['rule']!r} could not be compiled here ({type(e).__name__}); not checked"
        return
    fields = _fields_used(r["rule"])
    arg = {k: value[k] for k in fields if k in value} if fields is not None and isinstance(value, dict) else value
    try:
        ok, err = prog.execute({"self": arg}), ""
    except Exception as e:
        ok, err = False, str(e).split(":")[0]
    if ok is True:
        return
    msg = r.get("message") or f"failed rule: {r['rule']}"
    if "messageExpression" in r:
        with contextlib.suppress(Exception):  # the static message stands in
            msg = str(_program(r["messageExpression"]).execute({"self": value}))
    if err:
        msg += f" (rule could not be evaluated: {err})"
    yield (*at, *_field_path(r.get("fieldPath"))), f"{msg} [CEL: {r['rule']}]"


def _list_map_one(keys: list[str], items: Any, at: PathT) -> Iterator[tuple[PathT, str]]:
    """`x-kubernetes-list-type: map`: the key fields of the items must be unique."""
    if not isinstance(items, list):
        return
    seen: dict[tuple[Any, ...], int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        k = tuple(item.get(x) for x in keys)
        if k in seen:
            shown = ", ".join(f"{x}={describe(v)}" for x, v in zip(keys, k, strict=True))
            yield (*at, i), f"expected unique entries by {', '.join(keys)}, got a second {shown} (first at [{seen[k]}])"
        else:
            seen[k] = i


def cel_violations(rules: list[dict[str, Any]], body: Any) -> Iterator[tuple[PathT, str]]:
    for code, path, msg in Rules(rules, []).violations(body):
        if code == "KF402":
            yield path, msg


def list_map_violations(list_maps: list[dict[str, Any]], body: Any) -> Iterator[tuple[PathT, str]]:
    for _, path, msg in Rules([], list_maps).violations(body):
        yield path, msg
