"""`kfconf build --explain`: each resource's YAML, each explained field commented with its source.

Renderers fill `Resource.explain` (field path in the body → "ml-project.yaml:33",
"overlays/prod.yaml:12", "stack kubeflow-latest: …" or "default"). The YAML printed is exactly
what the build emits (same dumper); a comment goes at the end of the line where the field's key
(or list item) starts. Labels and annotations that post-processing adds say "kfconf". Keys may be
written `a.b[0].c` or `a.b.0.c`, name a list item by its name (`replicatedJobs[node]`), use `*` for
every item (`pytorchReplicaSpecs.*.template`), or point into
a value (`env.CONFIG.uri` comments the env var CONFIG); a key with dots of its own (a label, a
ConfigMap file name) is matched as written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from kfconf.build import postprocess as pp
from kfconf.build.emit import dump
from kfconf.core.resource import Resource
from kfconf.core.source import PathT, fmt_path

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

ADDED_BY_KFCONF: frozenset[PathT] = frozenset(
    {("metadata", "labels", k) for k in (pp.MANAGED_BY, pp.PART_OF, pp.PROJECT_LABEL, pp.COMPONENT_LABEL,
                                          pp.ENV_LABEL)}
    | {("metadata", "annotations", k) for k in (pp.SOURCE_ANNOTATION, pp.STACK_ANNOTATION, pp.HASH_ANNOTATION)}
)


def _spellings(path: PathT) -> tuple[str, str]:
    return fmt_path(path), ".".join(map(str, path))


def _lines(node: yaml.Node, path: PathT = ()) -> Iterator[tuple[int, PathT]]:
    """(0-based line, path) of every mapping key and list item of a composed document."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            p = (*path, k.value)
            yield k.start_mark.line, p
            yield from _lines(v, p)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            p = (*path, i)
            yield v.start_mark.line, p
            yield from _lines(v, p)


def _segments(key: str) -> list[str | int]:
    """'a.b[0].c' / 'a.b.0.c' / 'jobs[node]' → parts; a digit part is a list index."""
    out: list[str | int] = []
    for part in key.replace("[", ".").replace("]", "").split("."):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return out


def resolve(body: Any, key: str) -> list[PathT]:
    """The body paths an explain key names ([] when none).

    Besides plain paths, a list item may be named by its `name` (`replicatedJobs[node]`, `env.LR`),
    `*` stands for every item or map value (`pytorchReplicaSpecs.*.template`), and a key that
    continues into a value (`env.CONFIG.model.uri`, inside the JSON text of an env var) stops at the
    value it points into."""
    out: list[PathT] = []
    _resolve(body, _segments(key), (), False, out)
    return out


def _resolve(node: Any, rest: list[str | int], at: PathT, named: bool, out: list[PathT]) -> None:
    if not rest:
        out.append(at)
        return
    seg, more = rest[0], rest[1:]
    if seg == "*" and isinstance(node, (list, dict)):
        for k in range(len(node)) if isinstance(node, list) else sorted(node):
            _resolve(node[k], more, (*at, k), False, out)
    elif isinstance(node, list):
        if isinstance(seg, int):
            if 0 <= seg < len(node):
                _resolve(node[seg], more, (*at, seg), False, out)
            return
        hit = next((i for i, v in enumerate(node) if isinstance(v, dict) and v.get("name") == seg), None)
        if hit is not None:
            _resolve(node[hit], more, (*at, hit), True, out)
    elif isinstance(node, dict):
        if seg in node or str(seg) in node:
            k = seg if seg in node else str(seg)
            _resolve(node[k], more, (*at, k), False, out)
        elif named and isinstance(node.get("value"), str):
            out.append((*at, "value"))
    else:
        out.append(at)  # into a scalar's content


def _notes(r: Resource, known: dict[str, PathT]) -> dict[PathT, str]:
    """Body path → where its value came from, for every explain key that names a field."""
    out: dict[PathT, list[str]] = {}
    for key, src in sorted(r.explain.items()):
        exact = known.get(key)
        for p in [exact] if exact is not None else resolve(r.body, key):
            if src not in out.setdefault(p, []):
                out[p].append(src)
    return {p: "; ".join(v) for p, v in out.items()}


def explain_resource(r: Resource) -> str:
    text = dump(r.body)
    root = yaml.compose(text, Loader=_Loader)
    by_line: dict[int, list[PathT]] = {}
    known: dict[str, PathT] = {}
    for at, p in _lines(root) if root is not None else ():
        by_line.setdefault(at, []).append(p)
        for spelling in _spellings(p):
            known.setdefault(spelling, p)
    notes = _notes(r, known)
    out = []
    for n, line in enumerate(text.splitlines()):
        note = None
        for p in sorted(by_line.get(n, ()), key=len, reverse=True):  # the most specific field first
            note = notes.get(p) or ("kfconf" if p in ADDED_BY_KFCONF else None)
            if note is not None:
                break
        out.append(f"{line}  # {note}" if note else line)
    return "\n".join(out) + "\n"


def _header(r: Resource) -> str:
    ann = (r.body.get("metadata") or {}).get("annotations") or {}
    where = ann.get(pp.SOURCE_ANNOTATION) or (f"{r.origin.file}:{r.origin.line}" if r.origin else "kfconf")
    entry = f" ({r.component}/{r.entry})" if r.component and r.entry else (f" ({r.component})" if r.component else "")
    return f"# {r.id} from {where}{entry}\n"


def explain_text(result: Any) -> str:
    """The whole build, as one YAML stream with provenance comments (deterministic)."""
    return "".join("---\n" + _header(r) + explain_resource(r) for r in result.resources)


def unmatched_keys(r: Resource) -> list[str]:
    """Explain keys that name no field of the body (a renderer's slip; the tests report them)."""
    text = dump(r.body)
    root = yaml.compose(text, Loader=_Loader)
    known = {s for _, p in (_lines(root) if root is not None else ()) for s in _spellings(p)}
    return sorted(k for k in r.explain if k not in known and not resolve(r.body, k))
