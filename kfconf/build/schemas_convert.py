"""Turn upstream API schemas into the strict, compact JSON Schemas the output check compiles.

One converter serves `tools/gen_schemas.py` (the shipped set) and `kfconf schemas import` (a user's
CRDs), so an imported CRD is checked exactly like a shipped one. Sources and what becomes of them:

- CRD `openAPIV3Schema` (structural OpenAPI v3): strict as the API server's field validation is —
  an object node without `x-kubernetes-preserve-unknown-fields` rejects fields it does not list
  (the server would prune them; `kubectl --validate=strict` reports them). `nullable`,
  `x-kubernetes-int-or-string` and OpenAPI's boolean `exclusiveMinimum` become draft-07 forms,
  `x-kubernetes-embedded-resource` admits apiVersion/kind/metadata. The root `metadata` is
  Kubernetes' ObjectMeta. CEL rules (`x-kubernetes-validations`) and list-map keys are lifted out
  with the path they apply to; `kfconf.build.rules_cel` evaluates them.
- Kubernetes' own OpenAPI (the `-strict` JSON Schemas of kubernetes-validate): refs are localised,
  `null` is dropped from types (a generated manifest never needs a null).
- Swagger 2.0 definitions (Katib, whose CRD is schemaless): strictified like CRDs, with the
  Kubernetes types it names taken from Kubernetes' schema.

Descriptions, examples and defaults are dropped (the check never applies defaults), and identical
large subtrees are shared through `definitions`, which keeps the wheel small and compiling fast.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

Json = Any
Path = list[str]
"""A path pattern into an object: property names, and "*" for every list item or map value."""

DROP = frozenset({"description", "example", "examples", "default", "title", "externalDocs", "readOnly",
                  "x-kubernetes-group-version-kind", "x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key",
                  "x-kubernetes-map-type", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
                  "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields",
                  "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource", "nullable", "format",
                  "$schema", "$id", "x-kubernetes-unions", "x-kubernetes-selectable-fields"})
INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
DEDUP_MIN_CHARS = 300
HOIST_MIN_CHARS = 1500
"""A large subtree gets its own definition even when used once: fastjsonschema then generates one small
function for it, and its generated code evaluates `locals()` for every $ref call, which costs in
proportion to the locals of the calling function (tens of µs in one giant root function)."""


def _type_of(node: dict[str, Any]) -> str | None:
    t = node.get("type")
    return t if isinstance(t, str) else None


class Lifted:
    """Rules found while converting one version's schema: CEL rules and list-map keys, by path."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.list_maps: list[dict[str, Any]] = []
        self.transition_rules = 0
        """Rules on `oldSelf` (immutability, allowed transitions) only apply to updates: not a build's concern."""


def convert_openapi(node: Json, lifted: Lifted | None = None, path: Path | None = None, *,
                    strict_objects: bool = True, ref: Callable[[str], str] | None = None) -> Json:
    """One OpenAPI v3 / Swagger schema node → a strict draft-07 node (recursively)."""
    path = path or []
    if not isinstance(node, dict):
        return node
    if lifted is not None:
        for r in node.get("x-kubernetes-validations") or ():
            if "oldSelf" in r.get("rule", ""):
                lifted.transition_rules += 1
                continue
            lifted.rules.append({"path": path, **{k: r[k] for k in ("rule", "message", "messageExpression",
                                                                     "fieldPath", "reason") if k in r}})
        if node.get("x-kubernetes-list-type") == "map" and node.get("x-kubernetes-list-map-keys"):
            lifted.list_maps.append({"path": path, "keys": list(node["x-kubernetes-list-map-keys"])})
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in DROP or k.startswith("x-"):
            continue
        if k == "$ref" and isinstance(v, str):
            out[k] = ref(v) if ref else v
        elif k == "properties" and isinstance(v, dict):
            out[k] = {name: convert_openapi(sub, lifted, [*path, name], strict_objects=strict_objects, ref=ref)
                      for name, sub in v.items()}
        elif k == "items" or (k == "additionalProperties" and isinstance(v, dict)):
            out[k] = convert_openapi(v, lifted, [*path, "*"], strict_objects=strict_objects, ref=ref)
        elif k in ("allOf", "anyOf", "oneOf"):
            # value validations: branches constrain, they do not declare structure, so no strictness inside
            out[k] = [convert_openapi(b, None, path, strict_objects=False, ref=ref) for b in v]
        elif k == "not":
            out[k] = convert_openapi(v, None, path, strict_objects=False, ref=ref)
        elif k in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(v, bool):
            bound = "minimum" if k == "exclusiveMinimum" else "maximum"
            if v and bound in node:
                out[k] = node[bound]
        else:
            out[k] = copy.deepcopy(v)
    for k in ("exclusiveMinimum", "exclusiveMaximum"):
        bound = "minimum" if k == "exclusiveMinimum" else "maximum"
        if k in out and out.get(bound) == out[k]:
            del out[bound]
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in INT_BOUNDS and _type_of(node) == "integer":
        lo, hi = INT_BOUNDS[fmt]
        out.setdefault("minimum", lo)
        out.setdefault("maximum", hi)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        if ref is not None:
            props.setdefault("metadata", {"$ref": ref(OBJECT_META)})
    if (strict_objects and _type_of(node) == "object" and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    return out


def drop_null(node: Json) -> Json:
    """Kubernetes' JSON Schemas allow null everywhere (`["string", "null"]`); a manifest never needs it."""
    if isinstance(node, list):
        return [drop_null(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in DROP or k.startswith("x-"):
            continue
        if k == "type" and isinstance(v, list):
            kept = [t for t in v if t != "null"]
            out[k] = kept[0] if len(kept) == 1 else kept
        elif k == "properties" and isinstance(v, dict):
            out[k] = {name: drop_null(sub) for name, sub in v.items()}
        else:
            out[k] = drop_null(v)
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in INT_BOUNDS and out.get("type") == "integer":
        out.setdefault("minimum", INT_BOUNDS[fmt][0])
        out.setdefault("maximum", INT_BOUNDS[fmt][1])
    return out


def k8s_closure(defs: dict[str, Json], roots: Iterable[str], ref_prefix: str) -> dict[str, Json]:
    """The Kubernetes definitions reachable from `roots`, converted, with refs made local."""
    out: dict[str, Json] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        node = drop_null(defs[name])
        out[name] = node
        todo.extend(_refs(node, ref_prefix))
    return {k: _relocal(v, ref_prefix) for k, v in sorted(out.items())}


def _refs(node: Json, prefix: str) -> Iterable[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(prefix):
                yield v[len(prefix):]
            else:
                yield from _refs(v, prefix)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v, prefix)


def _relocal(node: Json, prefix: str) -> Json:
    if isinstance(node, dict):
        return {k: ("#/definitions/" + v[len(prefix):] if k == "$ref" and isinstance(v, str) and v.startswith(prefix)
                    else _relocal(v, prefix)) for k, v in node.items()}
    if isinstance(node, list):
        return [_relocal(v, prefix) for v in node]
    return node


def _canon(node: Json) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions")
SUBSCHEMAS = ("items", "additionalProperties", "not")
SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf")


def _map_schema(node: Json, fn: Callable[[Json], Json]) -> Json:
    """A schema node with `fn` applied to each of its direct subschemas (and nothing else)."""
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in SUBSCHEMA_MAPS and isinstance(v, dict):
            out[k] = {n: fn(s) for n, s in v.items()}
        elif k in SUBSCHEMAS and isinstance(v, dict):
            out[k] = fn(v)
        elif k in SUBSCHEMA_LISTS and isinstance(v, list):
            out[k] = [fn(b) for b in v]
        else:
            out[k] = v
    return out


def share_subtrees(roots: dict[str, Json], definitions: dict[str, Json]) -> tuple[dict[str, Json], dict[str, Json]]:
    """Replace identical large object schemas (in all roots and definitions) by refs to one shared
    definition, and give every very large one a definition of its own (see HOIST_MIN_CHARS)."""
    counts: Counter[str] = Counter()

    def is_object(node: Json) -> bool:
        return isinstance(node, dict) and (node.get("type") == "object" or "properties" in node)

    def count(node: Json) -> Json:
        if isinstance(node, dict):
            _map_schema(node, count)
            if is_object(node):
                c = _canon(node)
                if len(c) >= DEDUP_MIN_CHARS:
                    counts[c] += 1
        return node

    for r in (*roots.values(), *definitions.values()):
        count(r)
    shared: dict[str, Json] = {}

    def rebuild(node: Json, top: bool = False) -> Json:
        if not isinstance(node, dict):
            return node
        out = _map_schema(node, rebuild)
        if top or not is_object(node):
            return out
        c = _canon(node)
        if counts.get(c, 0) >= 2 or len(c) >= HOIST_MIN_CHARS:
            key = "s" + hashlib.sha256(c.encode()).hexdigest()[:12]
            shared.setdefault(key, out)
            return {"$ref": f"#/definitions/{key}"}
        return out

    new_roots = {k: rebuild(v, top=True) for k, v in roots.items()}
    new_defs = {k: rebuild(v, top=True) for k, v in definitions.items()}
    new_defs.update(shared)
    return new_roots, dict(sorted(new_defs.items()))


def crd_kind_file(crd: dict[str, Any], meta_defs: dict[str, Json], *, release: str, source: str,
                  remove: Iterable[tuple[str, ...]] = (), patches: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """A CustomResourceDefinition → the shipped per-kind file (every served version with a schema).

    `remove` deletes properties (paths inside the version schema) to derive an older release whose
    differences are documented; `patches` are JSON6902 patches upstream applies to the CRD.
    """
    crd = copy.deepcopy(crd)
    for p in patches:
        apply_json6902(crd, p)
    spec = crd["spec"]
    versions: dict[str, Any] = {}
    roots: dict[str, Json] = {}
    for v in spec["versions"]:
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if not v.get("served", True) or schema is None:
            continue
        schema = copy.deepcopy(schema)
        for path in remove:
            _remove(schema, path)
        lifted = Lifted()
        root = convert_openapi(schema, lifted, [], ref=lambda r: "#/definitions/" + r)
        props = root.setdefault("properties", {})
        props["metadata"] = {"$ref": f"#/definitions/{OBJECT_META}"}
        props.setdefault("apiVersion", {"type": "string"})  # every object has them, listed in its CRD or not
        props.setdefault("kind", {"type": "string"})
        props.pop("status", None)  # the server ignores status on create; a manifest has none
        root["required"] = sorted({*root.get("required", []), "apiVersion", "kind", "metadata"} - {"status"})
        roots[v["name"]] = root
        lifted.rules = [r for r in lifted.rules if r["path"][:1] != ["status"]]  # a manifest has no status
        lifted.list_maps = [m for m in lifted.list_maps if m["path"][:1] != ["status"]]
        versions[v["name"]] = {"rules": lifted.rules, "listMaps": lifted.list_maps,
                              "transitionRules": lifted.transition_rules}
    roots, defs = share_subtrees(roots, dict(meta_defs))
    for name, root in roots.items():
        versions[name]["schema"] = root
    return {"kind": spec["names"]["kind"], "group": spec["group"], "scope": spec.get("scope", "Namespaced"),
            "release": release, "source": source, "versions": dict(sorted(versions.items())),
            "definitions": defs}


def _remove(schema: dict[str, Any], path: tuple[str, ...]) -> None:
    node = schema
    for part in path[:-1]:
        node = node["items"] if part == "*" else node["properties"][part]
    del node["properties"][path[-1]]
    if path[-1] in node.get("required", []):
        node["required"] = [r for r in node["required"] if r != path[-1]]


def apply_json6902(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    """The `add`/`replace`/`remove` operations of RFC 6902 (what CRD patches use)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in patch["path"].lstrip("/").split("/")]
    node: Any = doc
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    op = patch["op"]
    if isinstance(node, list):
        idx = len(node) if last == "-" else int(last)
        if op == "add":
            node.insert(idx, patch["value"])
        elif op == "replace":
            node[idx] = patch["value"]
        elif op == "remove":
            del node[idx]
        return
    if op in ("add", "replace"):
        node[last] = patch["value"]
    elif op == "remove":
        del node[last]
    else:
        raise ValueError(f"unsupported JSON patch op {op!r}")


def is_crd(doc: Any) -> bool:
    return (isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
            and str(doc.get("apiVersion", "")).startswith("apiextensions.k8s.io/"))
