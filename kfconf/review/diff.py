"""Desired-vs-desired comparison: resource by resource, field by field.

Lists of named items (containers, env, parameters, canaries) are matched by name, so inserting one
item shows as one addition rather than a shifted list; lists of plain values (args, command) change
as a whole. A field the target API will not let change in place (a TrainJob's trainer, a Katib
spec other than its three counts, a PipelineVersion spec, an InferenceService's deployment mode)
marks the resource as replaced: the syncer must delete and recreate it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kfconf.build.postprocess import stage
from kfconf.core.resource import Resource
from kfconf.core.source import Loc
from kfconf.review.normalize import MASK, group_kind, is_secret, mask_body, normalize
from kfconf.review.quantity import quantity

Seg = str | int | tuple[str, str]
"""A mapping key, a list index, or (key field, value) for an item of a named list."""

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_VERSION_SUFFIX = re.compile(r"-[0-9a-f]{6,}$")
JSON_MARK = "::"
"""Marks the step into a string that holds a JSON document (a KFP step's embedded manifest)."""
_QUANTITY_PARENTS = frozenset({"requests", "limits", "hard"})
_LIST_KEYS: tuple[tuple[str, ...], ...] = (("name",), ("predictor", "name"))


def fmt_segs(segs: tuple[Seg, ...]) -> str:
    """('spec', 'canary', ('predictor.name', 'v2'), 'trafficPercent') → spec.canary[predictor.name=v2].trafficPercent"""
    out: list[str] = []
    for s in segs:
        if s == JSON_MARK:
            out.append(JSON_MARK)
        elif isinstance(s, int):
            out.append(f"[{s}]")
        elif isinstance(s, tuple):
            out.append(f"[{s[0]}={s[1]}]")
        elif _PLAIN_KEY.match(s):
            out.append(("." if out and out[-1] != JSON_MARK else "") + s)
        else:
            out.append(f'["{s}"]')
    return "".join(out)


@dataclass(frozen=True)
class Immutable:
    prefixes: tuple[tuple[str, ...], ...]
    mutable: tuple[tuple[str, ...], ...]
    why: str


IMMUTABLE: dict[tuple[str, str], Immutable] = {
    ("trainer.kubeflow.org", "TrainJob"): Immutable(
        (("spec", "runtimeRef"), ("spec", "initializer"), ("spec", "trainer"), ("spec", "managedBy"),
         ("spec", "activeDeadlineSeconds")), (),
        "a TrainJob's runtimeRef, initializer, trainer, managedBy and activeDeadlineSeconds are immutable"),
    ("pipelines.kubeflow.org", "PipelineVersion"): Immutable(
        (("spec",),), (("spec", "displayName"), ("spec", "tags")),
        "a PipelineVersion's spec is immutable except displayName and tags"),
    ("kubeflow.org", "Experiment"): Immutable(
        (("spec",),), (("spec", "parallelTrialCount"), ("spec", "maxTrialCount"), ("spec", "maxFailedTrialCount")),
        "a Katib Experiment's spec is immutable except parallelTrialCount, maxTrialCount and maxFailedTrialCount"),
    ("serving.kserve.io", "InferenceService"): Immutable(
        (("metadata", "annotations", "serving.kserve.io/deploymentMode"),), (),
        "an InferenceService's deployment mode cannot change after creation"),
    ("batch", "Job"): Immutable(
        (("spec", "template"), ("spec", "selector"), ("spec", "completions")), (),
        "a Job's pod template, selector and completions are immutable"),
    ("apps", "Deployment"): Immutable((("spec", "selector"),), (), "a Deployment's selector is immutable"),
    ("apps", "StatefulSet"): Immutable(
        (("spec", "selector"), ("spec", "volumeClaimTemplates"), ("spec", "serviceName")), (),
        "a StatefulSet's selector, volumeClaimTemplates and serviceName are immutable"),
    ("", "PersistentVolumeClaim"): Immutable(
        (("spec",),), (("spec", "resources", "requests", "storage"),),
        "a PersistentVolumeClaim's spec is immutable except its storage request"),
}


def _under(segs: tuple[Seg, ...], prefix: tuple[str, ...]) -> bool:
    return len(segs) >= len(prefix) and segs[: len(prefix)] == prefix


def immutable_reason(gk: tuple[str, str], segs: tuple[Seg, ...]) -> str | None:
    rule = IMMUTABLE.get(gk)
    if rule is None or any(_under(segs, m) for m in rule.mutable):
        return None
    if any(_under(segs, p) for p in rule.prefixes):
        return rule.why
    # a change above an immutable path (a whole `spec` replaced) reaches it too
    if any(_under(p, tuple(str(s) for s in segs)) for p in rule.prefixes) and segs:
        return rule.why
    return None


@dataclass(frozen=True)
class FieldChange:
    path: str
    op: str
    """add | remove | change"""
    before: Any = None
    after: Any = None
    immutable: str | None = None
    """Why this change forces a replace, when it does."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.op != "add":
            out["before"] = self.before
        if self.op != "remove":
            out["after"] = self.after
        if self.immutable:
            out["forcesReplace"] = self.immutable
        return out


@dataclass
class ResourceChange:
    id: str
    kind: str
    op: str
    """add | remove | change"""
    origin: Loc | None = None
    component: str = ""
    entry: str = ""
    fields: list[FieldChange] = field(default_factory=list)
    previous: str | None = None
    """For a new version of a content-named resource (a PipelineVersion named by hash): the version it
    replaces, which the syncer prunes. Shown as one change instead of an addition and a removal."""
    before: dict[str, Any] | None = None
    """A removed resource's body, normalized (without defaults filled in) and masked."""
    after: dict[str, Any] | None = None
    """An added resource's body, likewise. (A change carries its fields instead.)"""

    @property
    def replace(self) -> bool:
        return self.previous is not None or any(f.immutable for f in self.fields)

    def sort_key(self) -> tuple[int, str, str]:
        return (stage(self.kind), self.kind, self.id)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "op": self.op, "component": self.component,
                               "entry": self.entry, "origin": str(self.origin) if self.origin else None}
        if self.op == "change":
            out["forcesReplace"] = self.replace
            if self.previous:
                out["previous"] = self.previous
            out["fields"] = [f.to_json() for f in self.fields]
        elif self.op == "add":
            out["body"] = self.after
        return out


def _same(a: Any, b: Any) -> bool:
    """Deep equality that keeps true ≠ 1 (YAML types matter to the API server)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _equal_leaf(segs: tuple[Seg, ...], a: Any, b: Any) -> bool:
    if _same(a, b):
        return True
    if len(segs) >= 2 and segs[-2] in _QUANTITY_PARENTS:  # 1 vs "1000m" vs "1" are one CPU
        qa, qb = quantity(a), quantity(b)
        return qa is not None and qa == qb
    return False


def _json_doc(text: str) -> dict[str, Any] | None:
    """A string that holds a JSON object, compared by structure rather than as one long line."""
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return None
    import json

    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _key_of(item: Any, key: tuple[str, ...]) -> str | None:
    cur = item
    for k in key:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
    return cur if isinstance(cur, str) else None


def _list_key(a: list[Any], b: list[Any]) -> tuple[str, ...] | None:
    for key in _LIST_KEYS:
        for items in (a, b):
            names = [_key_of(x, key) for x in items]
            if any(n is None for n in names) or len(set(names)) != len(names):
                break
        else:
            return key
    return None


class _Differ:
    def __init__(self, gk: tuple[str, str], secret: bool) -> None:
        self.gk = gk
        self.secret = secret
        self.out: list[FieldChange] = []

    def _mask(self, segs: tuple[Seg, ...], value: Any) -> Any:
        if not self.secret or not segs or segs[0] not in ("data", "stringData"):
            return value
        if len(segs) == 1 and isinstance(value, dict):
            return {k: MASK for k in value}
        return MASK

    def emit(self, segs: tuple[Seg, ...], op: str, before: Any, after: Any) -> None:
        self.out.append(FieldChange(fmt_segs(segs), op, self._mask(segs, before), self._mask(segs, after),
                                    immutable_reason(self.gk, segs)))

    def walk(self, a: Any, b: Any, segs: tuple[Seg, ...]) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(a.keys() | b.keys()):
                if k not in a:
                    self.emit((*segs, k), "add", None, b[k])
                elif k not in b:
                    self.emit((*segs, k), "remove", a[k], None)
                else:
                    self.walk(a[k], b[k], (*segs, k))
        elif isinstance(a, list) and isinstance(b, list):
            self.walk_list(a, b, segs)
        elif isinstance(a, str) and isinstance(b, str) and (ja := _json_doc(a)) is not None and (
                jb := _json_doc(b)) is not None:
            self.walk(ja, jb, (*segs, JSON_MARK))
        elif not _equal_leaf(segs, a, b):
            self.emit(segs, "change", a, b)

    def walk_list(self, a: list[Any], b: list[Any], segs: tuple[Seg, ...]) -> None:
        if _same(a, b):
            return
        key = _list_key(a, b)
        if key is not None:
            label = ".".join(key)
            old = {_key_of(x, key): x for x in a}
            new = {_key_of(x, key): x for x in b}
            for name, item in new.items():
                s = (*segs, (label, str(name)))
                if name in old:
                    self.walk(old[name], item, s)
                else:
                    self.emit(s, "add", None, item)
            for name, item in old.items():
                if name not in new:
                    self.emit((*segs, (label, str(name))), "remove", item, None)
            return
        if not any(isinstance(x, dict | list) for x in (*a, *b)):
            pairs = [(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=False)) if not _same(x, y)]
            docs = all(isinstance(x, str) and isinstance(y, str) and _json_doc(x) is not None
                       and _json_doc(y) is not None for _, x, y in pairs)
            if len(a) == len(b) and (len(pairs) * 2 <= len(a) or docs):
                for i, x, y in pairs:  # a few items of a long list changed, or JSON documents inside
                    self.walk(x, y, (*segs, i))
            else:
                self.emit(segs, "change", a, b)  # args, command: one readable before → after
            return
        for i in range(max(len(a), len(b))):
            if i >= len(a):
                self.emit((*segs, i), "add", None, b[i])
            elif i >= len(b):
                self.emit((*segs, i), "remove", a[i], None)
            else:
                self.walk(a[i], b[i], (*segs, i))


def diff_bodies(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """Field changes between two bodies of one resource, noise removed and defaults filled in."""
    a, b = normalize(before), normalize(after)
    d = _Differ(group_kind(b), is_secret(b) or is_secret(a))
    d.walk(a, b, ())
    return d.out


def _stem(r: Resource) -> tuple[str, str, str] | None:
    m = _VERSION_SUFFIX.search(r.name)
    return (r.kind, r.namespace or "", r.name[: m.start()]) if m else None


def _versions(old: dict[str, Resource], new: dict[str, Resource]) -> dict[str, str]:
    """New id → old id for resources named by a content hash (`nightly-292c26124d` → `nightly-08a7c83bb3`):
    exactly one removed and one added with the same kind, namespace and name stem."""
    gone: dict[tuple[str, str, str], list[str]] = {}
    came: dict[tuple[str, str, str], list[str]] = {}
    for rid, r in old.items():
        if rid not in new and (s := _stem(r)):
            gone.setdefault(s, []).append(rid)
    for rid, r in new.items():
        if rid not in old and (s := _stem(r)):
            came.setdefault(s, []).append(rid)
    return {came[s][0]: gone[s][0] for s in came if len(came[s]) == 1 and len(gone.get(s, [])) == 1}


def diff_resources(before: list[Resource], after: list[Resource]) -> list[ResourceChange]:
    """Every resource added, removed or changed from BEFORE to AFTER, in apply order."""
    old = {r.id: r for r in before}
    new = {r.id: r for r in after}
    versions = _versions(old, new)
    out: list[ResourceChange] = []
    for rid, r in new.items():
        if rid in versions:
            prev = old[versions[rid]]
            out.append(ResourceChange(rid, r.kind, "change", r.origin, r.component, r.entry,
                                      diff_bodies(prev.body, r.body), previous=prev.id))
            continue
        if rid not in old:
            out.append(ResourceChange(rid, r.kind, "add", r.origin, r.component, r.entry,
                                      after=mask_body(normalize(r.body, defaults=False))))
            continue
        fields = diff_bodies(old[rid].body, r.body)
        if fields:
            out.append(ResourceChange(rid, r.kind, "change", r.origin, r.component, r.entry, fields))
    replaced = set(versions.values())
    for rid, r in old.items():
        if rid not in new and rid not in replaced:
            out.append(ResourceChange(rid, r.kind, "remove", r.origin, r.component, r.entry,
                                      before=mask_body(normalize(r.body, defaults=False))))
    return sorted(out, key=ResourceChange.sort_key)
