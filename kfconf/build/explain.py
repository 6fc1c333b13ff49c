"""`kfconf build --explain`: each resource's YAML, each explained field commented with its source.

Renderers fill `Resource.explain` (field path in the body → "ml-project.yaml:33",
"overlays/prod.yaml:12", "stack kubeflow-latest: …" or "default"). The YAML printed is exactly
what the build emits (same dumper); a comment goes at the end of the line where the field's key
(or list item) starts. Labels and annotations that post-processing adds say "kfconf". Keys may be
written `a.b[0].c` or `a.b.0.c`; a key with dots of its own (a label, a ConfigMap file name) is
matched as written.
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


def explain_resource(r: Resource) -> str:
    text = dump(r.body)
    root = yaml.compose(text, Loader=_Loader)
    by_line: dict[int, list[PathT]] = {}
    for at, p in _lines(root) if root is not None else ():
        by_line.setdefault(at, []).append(p)
    lookup: dict[str, str] = dict(r.explain)
    out = []
    for n, line in enumerate(text.splitlines()):
        note = None
        for p in sorted(by_line.get(n, ()), key=len, reverse=True):  # the most specific field first
            note = next((lookup[s] for s in _spellings(p) if s in lookup), None)
            if note is None and p in ADDED_BY_KFCONF:
                note = "kfconf"
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
    return sorted(k for k in r.explain if k not in known)
