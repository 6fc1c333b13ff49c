"""Validation: the closed schema (pydantic) and the semantic checks, all problems in one run."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from kfconf.components import REGISTRY
from kfconf.components.base import Component
from kfconf.core.errors import Diagnostic, FindingsError, Severity
from kfconf.core.source import PathT, SourceMap, describe
from kfconf.spec.checks import credentials_in
from kfconf.spec.model import MLProject
from kfconf.spec.project import Project
from kfconf.spec.reuse import Reuse
from kfconf.spec.stacks import Stack, load_stack
from kfconf.spec.types import DNS_LABEL, EMAIL, is_uri

_TYPE_WORDS = {
    "int": "an integer", "float": "a number", "string": "a string", "bool": "true or false",
    "list": "a list", "dict": "a mapping", "model": "a mapping", "model_attributes": "a mapping",
}


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(tp) for t in _unwrap(a)]
    return [tp]


def _fields_at(model: type[BaseModel], path: PathT) -> list[str] | None:
    """The keys allowed at `path` inside `model` (for 'did you mean'), or None if not a model there."""
    candidates: list[Any] = [model]
    for part in path:
        nxt: list[Any] = []
        for tp in candidates:
            for t in _unwrap(tp):
                origin = typing.get_origin(t)
                if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(part, str):
                    for name, f in t.model_fields.items():
                        if (f.alias or name) == part:
                            nxt.append(f.annotation)
                elif origin is list and isinstance(part, int):
                    nxt.append(typing.get_args(t)[0])
                elif origin is dict and isinstance(part, str):
                    nxt.append(typing.get_args(t)[1])
        candidates = nxt
    for tp in candidates:
        for t in _unwrap(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                return [f.alias or n for n, f in t.model_fields.items()]
    return None


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[PathT, bool]:
    """Drop pydantic's union-member tags from `loc`; also say whether the path exists in the data."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        in_dict = isinstance(cur, dict) and isinstance(part, str) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str):
            out.append(part)  # a missing or extra key: the last meaningful part
            return tuple(out), False
        else:
            continue  # a union tag such as 'str' or 'SecretRef', or a function-after wrapper
    return tuple(out), True


PATTERN_MESSAGES = {
    DNS_LABEL.pattern: ("KF106", "expected a DNS label (lowercase letters, digits and '-', starting with a letter)"),
    EMAIL.pattern: ("KF108", "expected an email address"),
}


def _message(err: Any) -> tuple[str, str]:
    """(code, message) for one pydantic error."""
    kind: str = err["type"]
    got = describe(err.get("input"))
    ctx = err.get("ctx") or {}
    if kind.startswith("KF"):
        return kind, err["msg"]
    if kind == "missing":
        return "KF102", "missing required key"
    if kind == "literal_error":
        return "KF105", f"expected one of {ctx.get('expected', '')}, got {got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sym = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "")
        return "KF104", f"expected a value {sym} {bound}, got {got}"
    if kind in ("too_short", "string_too_short"):
        n = ctx.get("min_length", 1)
        what = "characters" if kind.startswith("string") else "items"
        return "KF104", f"expected at least {n} {what}, got {got if kind.startswith('string') else 'fewer'}"
    if kind in ("too_long", "string_too_long"):
        return "KF104", f"expected at most {ctx.get('max_length')} items or characters, got more"
    if kind == "string_pattern_mismatch":
        pattern, text = ctx.get("pattern"), err.get("input")
        if pattern == DNS_LABEL.pattern and isinstance(text, str) and len(text) > 63:
            return "KF106", f"expected at most 63 characters, got {len(text)}"
        if pattern in PATTERN_MESSAGES:
            return PATTERN_MESSAGES[pattern][0], f"{PATTERN_MESSAGES[pattern][1]}, got {got}"
        return "KF108", f"expected text matching {pattern}, got {got}"
    base = kind.split("_")[0] if not kind.startswith("model") else "model"
    if kind == "finite_number":
        return "KF007", f"expected a finite number, got {got}"
    if kind.startswith("int_from_float"):
        return "KF103", f"expected an integer, got {got}"
    word = _TYPE_WORDS.get(base)
    if word:
        return "KF103", f"expected {word}, got {got}"
    return "KF103", f"{err['msg'].lower()}, got {got}"


def schema_diagnostics(data: Any, source: SourceMap, exc: ValidationError,
                       root: type[BaseModel] = MLProject) -> list[Diagnostic]:
    by_path: dict[PathT, list[Any]] = {}
    order: list[PathT] = []
    for err in exc.errors(include_url=False):
        path, _ = _data_path(data, tuple(err["loc"]))
        if path not in by_path:
            by_path[path] = []
            order.append(path)
        by_path[path].append(err)
    out: list[Diagnostic] = []
    missing: dict[PathT, list[str]] = {}
    for path in order:
        errs = by_path[path]
        if all(e["type"] == "missing" for e in errs):
            missing.setdefault(path[:-1], []).append(str(path[-1]))
            continue
        extra = [e for e in errs if e["type"] == "extra_forbidden"]
        if extra:
            allowed = _fields_at(root, path[:-1]) or []
            key = str(path[-1])
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"allowed keys: {', '.join(sorted(allowed))}" if allowed else None)
            out.append(Diagnostic("KF101", f"unknown key '{key}'", source.at(path), path, hint=hint))
            continue
        custom = [e for e in errs if e["type"].startswith("KF")]
        chosen = custom[0] if custom else errs[0]
        code, msg = _message(chosen)
        hint = None
        if len(errs) > 1 and not custom and code == "KF103":
            words = sorted({_message(e)[1].split(", got")[0].removeprefix("expected ") for e in errs})
            msg = f"expected {' or '.join(words)}, got {describe(chosen.get('input'))}"
        if code == "KF105":
            options = _options(chosen.get("ctx") or {})
            close = difflib.get_close_matches(str(chosen.get("input")), options, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else None
        if code == "KF103" and isinstance(chosen.get("input"), bool | int | float) and "string" in msg:
            hint = "quote the value to make it a string"
        out.append(Diagnostic(code, msg, source.at(path), path, hint=hint))
    for parent, keys in missing.items():
        loc = source.at(parent)
        hint = None
        if loc.file != source.root.file and isinstance(parent[-1:][0] if parent else None, int):
            hint = f"this entry comes from {loc.file}: no entry of that name in the spec, so it is a new one"
        listed = ", ".join(f"'{k}'" for k in keys)
        out.append(Diagnostic("KF102", f"missing required key{'s' * (len(keys) > 1)} {listed}", loc, parent,
                              hint=hint))
    return out


def _without(data: Any, paths: list[PathT]) -> Any:
    """`data` with the value at each path removed (list items are removed after, to keep indexes stable)."""
    out = data
    for path in sorted(paths, key=lambda p: [str(x) for x in p], reverse=True):
        parent = out
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
            parent[path[-1]] = None  # keep indexes stable; dropped below
    return _drop_nones(out)


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value if v is not None]
    return value


_NO_FIX = object()


def _options(ctx: dict[str, Any]) -> list[str]:
    """The allowed values of a literal_error: pydantic gives them as "'a', 'b' or 'c'"."""
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def _stand_in(err: Any) -> Any:
    """A valid value near the invalid one, so that the entry survives for the semantic checks:
    the closest allowed literal, or the violated bound."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "literal_error":
        options = _options(ctx)
        close = difflib.get_close_matches(str(err.get("input")), options, n=1, cutoff=0.0)
        return close[0] if close else _NO_FIX
    if kind in ("greater_than_equal", "less_than_equal"):
        return next(iter(ctx.values()), _NO_FIX)
    if kind == "finite_number":
        try:
            value = float(err.get("input"))
        except (TypeError, ValueError):
            return _NO_FIX
        return 0.0 if value != value else (1e308 if value > 0 else -1e308)  # nan, +inf, -inf
    return _NO_FIX


# Required values outside lists cannot be dropped; these stand in (for the semantic checks only).
_PLACEHOLDERS: dict[PathT, Any] = {
    ("apiVersion",): "kfconf.dev/v1alpha1",
    ("kind",): "MLProject",
    ("metadata",): {"name": "invalid"},
    ("metadata", "name"): "invalid",
    ("spec",): {"profile": {"namespace": "invalid"}},
    ("spec", "profile"): {"namespace": "invalid"},
    ("spec", "profile", "namespace"): "invalid",
}


def _set(data: Any, path: PathT, value: Any) -> None:
    target = data
    for part in path[:-1]:
        if isinstance(target, dict):
            target = target.setdefault(part, {})
        elif isinstance(target, list) and isinstance(part, int) and part < len(target):
            target = target[part]
        else:
            return
    if isinstance(target, dict) or (isinstance(target, list) and isinstance(path[-1], int)):
        target[path[-1]] = value  # type: ignore[index]


def _repaired(data: dict[str, Any], first: ValidationError) -> MLProject | None:
    """The model of `data` with its invalid values mended, so the semantic checks still run on the rest.

    Round by round: an invalid literal becomes the closest allowed one and a value out of range its bound;
    any other invalid value is dropped (its default applies); a required value then missing inside a list
    entry drops the entry. The raw data still serves the name and reference checks of dropped entries."""
    import copy

    current: Any = copy.deepcopy(data)
    exc = first
    for _ in range(4):
        drop: list[PathT] = []
        for err in exc.errors(include_url=False):
            path, _ = _data_path(current, tuple(err["loc"]))
            fix = _stand_in(err)
            if fix is not _NO_FIX:
                _set(current, path, fix)
            elif err["type"] != "missing":
                drop.append(path)
            elif path in _PLACEHOLDERS:
                _set(current, path, copy.deepcopy(_PLACEHOLDERS[path]))
            else:
                entry = next((path[:i + 1] for i in range(len(path) - 1, 0, -1) if isinstance(path[i], int)), None)
                if entry is None:
                    return None
                drop.append(entry)
        current = _without(current, drop)
        try:
            return MLProject.model_validate(current)
        except ValidationError as e:
            exc = e
    return None


def raw_names(project: Project, key: str) -> set[str]:
    return {n for n in project.entry_names(key) if isinstance(n, str)}


def check_ref(project: Project, path: PathT, value: str, kinds: tuple[str, ...],
              uri_ok: bool = False) -> Iterator[Diagnostic]:
    """A reference names an existing entry of an allowed section (or is a URI where allowed)."""
    if uri_ok and is_uri(value):
        return
    key, sep, name = value.partition("/")
    if not sep or key not in kinds:
        allowed = " or ".join(f"{k}/NAME" for k in kinds) + (" or a URI" if uri_ok else "")
        yield Diagnostic("KF201", f"expected {allowed}, got {value!r}", project.loc(path), path)
        return
    if name not in project.entry_names(key):
        names = raw_names(project, key)
        close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
        yield Diagnostic("KF201", f"expected an existing {key} entry, got '{name}'", project.loc(path), path,
                         hint=f"did you mean '{key}/{close[0]}'?" if close else
                         (f"defined {key} entries: {', '.join(sorted(names))}" if names else f"no {key} entries"))


def _entries(project: Project, c: Component) -> Iterator[Diagnostic]:
    """The section's entries as written: unique names, the component's name limit, references that
    resolve. Raw, so that entries the schema refused are still checked."""
    seen: dict[str, int] = {}
    for i, e in project.raw_entries(c.key):
        name = e.get("name")
        if isinstance(name, str):
            if name in seen and c.many:
                path = ("spec", c.key, i, "name")
                first = project.source.at(("spec", c.key, seen[name], "name"))
                yield Diagnostic("KF107", f"expected unique names in {c.key}, got '{name}' again "
                                 f"(first at line {first.line})", project.loc(path), path)
            seen.setdefault(name, i)
            if len(name) > c.name_limit < 63:  # 63 is every name's limit: the schema says so
                path = ("spec", c.key, i, "name")
                yield Diagnostic("KF106", f"expected at most {c.name_limit} characters for a {c.key} name, "
                                 f"got {len(name)}", project.loc(path), path,
                                 hint="the Kubeflow component rejects longer names")
        for rf in c.refs:
            value = e.get(rf.field)
            if isinstance(value, str):
                yield from check_ref(project, ("spec", c.key, i, rf.field), value, rf.kinds, rf.uri_ok)


def _component(project: Project, stack: Stack | None, c: Component, credentials: bool) -> Iterator[Diagnostic]:
    """Everything said about one spec section: unique names, references, name limits, pasted
    credentials, and the component's own checks."""
    yield from _entries(project, c)
    if credentials:
        yield from credentials_in(project, ("spec", c.key))
    yield from c.run_check(project, stack)


_SECTIONS = frozenset(("spec", c.key) for c in REGISTRY)


def _rest(project: Project) -> Iterator[Diagnostic]:
    """Pasted credentials in the parts no component owns (metadata, images, stack …)."""
    for part in project.parts():
        if part not in _SECTIONS:
            yield from credentials_in(project, part)


def semantic_diagnostics(project: Project, stack: Stack | None, reuse: Reuse | None = None,
                         credentials: bool = True) -> list[Diagnostic]:
    """Every semantic finding, in place order; `reuse` keeps findings between the environments of a project.

    `credentials=False` (no file of the document could hold one, see Document) skips the scan for pasted
    credentials; a part shared with another environment came from the same files, so reuse stays right."""
    reuse = reuse or Reuse()
    out = list(reuse.run("rest", project, None, partial(_rest, project))) if credentials else []
    for c in REGISTRY:
        if c.many and not project.part(("spec", c.key)):
            continue  # a component's checks are about its entries: none, nothing to say
        out.extend(reuse.run(c.key, project, stack, partial(_component, project, stack, c, credentials)))
    return sorted(out, key=Diagnostic.sort_key)


def validate(data: Any, source: SourceMap, project_dir: Path, spec_file: str, env: str | None = None,
             stack: str | None = None, loaded: list[Diagnostic] | None = None, reuse: Reuse | None = None,
             credentials: bool = True) -> tuple[Project | None, Stack | None, list[Diagnostic]]:
    """Validate a merged document: every schema and semantic problem, each at its line.

    Returns the project and its stack when there is no error, and every diagnostic found. `reuse`, shared
    by the environments of one project, keeps what the checks found in the parts they did not change."""
    if not isinstance(data, dict):
        return None, None, [Diagnostic("KF006", "expected a mapping with apiVersion, kind, metadata and spec, "
                                       f"got {describe(data)}", source.root)]
    diags: list[Diagnostic] = list(loaded or ())
    try:
        model = reuse.model(data) if reuse is not None else MLProject.model_validate(data)
    except ValidationError as e:
        diags.extend(schema_diagnostics(data, source, e))
        model = _repaired(data, e)  # type: ignore[assignment]
        reuse = None  # the checks see mended values, not the parts as written: nothing to share
    if model is None:
        return None, None, diags
    project = Project(model, source, project_dir, spec_file, env, data)
    if reuse is not None:
        project.facts = reuse.facts
    st: Stack | None = None
    try:
        st = load_stack(stack or model.spec.stack, project_dir, project.loc(("spec", "stack")))
    except FindingsError as e:
        diags.extend(e.diagnostics)
    # a value the schema rejected was mended or dropped (and a misspelled key's intended key is absent):
    # what the semantic checks say of those paths is noise
    rejected = {d.path for d in diags if d.code.startswith("KF1") or d.code == "KF007"}
    rejected |= {(*d.path[:-1], m.group(1)) for d in diags if d.code == "KF101" and d.hint
                 for m in [re.match(r"did you mean '([^']+)'", d.hint)] if m}
    diags.extend(d for d in semantic_diagnostics(project, st, reuse, credentials)
                 if not any(d.path[:len(r)] == r for r in rejected if r))
    if any(d.severity is Severity.ERROR for d in diags):
        return None, None, diags
    project.diagnostics = diags
    return project, st, diags

