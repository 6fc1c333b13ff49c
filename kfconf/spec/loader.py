"""Load YAML into plain Python values plus a SourceMap.

libyaml's C composer (PyYAML's CSafeLoader) builds the node tree with a mark on every node; one walk
turns nodes into dicts, lists and scalars and records where each came from. That is several times
faster than a round-trip parser and keeps the same positions. The walk is also where hostile input
is stopped: duplicate keys, alias bombs, deep nesting, non-finite numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.source import Loc, PathT, SourceMap, describe

try:  # the C composer; the pure-Python one is a slow but correct fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is in every PyYAML wheel we install
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_RESOLVED: dict[str, str] = {}


class _Composer(_Loader):
    """libyaml's composer, with PyYAML's tag resolution memoised: the C composer asks Python for the tag of
    every scalar, and for a plain scalar the answer depends only on its text (SafeLoader has no path
    resolvers), so the result is the same, found once per distinct text instead of by regex each time."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or not implicit[0] or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) > 100_000:  # bounded: hostile input can hold many distinct scalars
                _RESOLVED.clear()
            _RESOLVED[value] = tag
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        if self.yaml_path_resolvers:
            super().descend_resolver(current_node, current_index)

    def ascend_resolver(self) -> None:
        if self.yaml_path_resolvers:
            super().ascend_resolver()


MAX_BYTES = 4 * 1024 * 1024  # a spec or overlay is a few KiB; anything this large is a mistake or an attack
MAX_DEPTH = 64
MAX_NODES = 200_000  # counted after alias expansion: stops "billion laughs"

_constructor = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(slots=True)
class Document:
    """One YAML document: its values and where each one came from.

    `diagnostics` holds problems that did not stop the load (a duplicate key keeps its first value, a
    non-finite number becomes null), so they are reported together with everything validation finds."""

    data: Any
    source: SourceMap
    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)


class _Walker:
    __slots__ = ("diags", "file", "locs", "nodes")

    def __init__(self, file: str) -> None:
        self.file = file
        self.locs: dict[PathT, Loc] = {}
        self.diags: list[Diagnostic] = []
        self.nodes = 0

    def loc(self, node: Node) -> Loc:
        m = node.start_mark
        return Loc(self.file, m.line + 1, m.column + 1)

    def walk(self, node: Node, path: PathT, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} values after expanding aliases", node)
        if depth > MAX_DEPTH:
            raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels", node)
        cls = type(node)
        if cls is ScalarNode:
            return self.scalar(node, path)  # type: ignore[arg-type]
        if cls is SequenceNode:
            out_list = []
            for i, item in enumerate(node.value):
                p = (*path, i)
                self.locs[p] = self.loc(item)
                out_list.append(self.walk(item, p, depth + 1))
            return out_list
        return self.mapping(node, path, depth)  # type: ignore[arg-type]

    def mapping(self, node: MappingNode, path: PathT, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Loc] = {}
        merges: list[Node] = []
        for knode, vnode in node.value:
            if knode.tag == _MERGE:
                merges.append(vnode)
                continue
            if type(knode) is not ScalarNode:
                self.diags.append(
                    Diagnostic("KF006", "expected a plain key, got a mapping or list as key",
                               self.loc(knode), path)
                )
                continue
            key = str(knode.value)
            kloc = self.loc(knode)
            if key in seen:
                first = seen[key]
                self.diags.append(
                    Diagnostic("KF002", f"expected each key once, got {key!r} again (first at line {first.line}, "
                               f"column {first.col})", kloc, (*path, key),
                               hint="remove one of them; kfconf keeps the first")
                )
                continue
            seen[key] = kloc
            p = (*path, key)
            self.locs[p] = kloc
            out[key] = self.walk(vnode, p, depth + 1)
        for m in merges:  # YAML merge keys: explicit keys win, then earlier merges
            sources = m.value if type(m) is SequenceNode else [m]
            for src in sources:
                if type(src) is not MappingNode:
                    self.diags.append(Diagnostic("KF006", "expected a mapping after '<<'", self.loc(src), path))
                    continue
                merged = self.mapping(src, path, depth + 1)
                for k, v in merged.items():
                    out.setdefault(k, v)
        return out

    def scalar(self, node: ScalarNode, path: PathT) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        try:
            if tag == _INT:
                return _constructor.construct_yaml_int(node)
            if tag == _FLOAT:
                return _constructor.construct_yaml_float(node)  # non-finite values: the schema says KF007
            if tag == _BOOL:
                return _constructor.construct_yaml_bool(node)
            if tag == _NULL:
                return None
        except ValueError:
            self.diags.append(
                Diagnostic("KF007", f"expected a number kfconf can represent, got {describe(node.value)}",
                           self.loc(node), path)
            )
            return None
        return node.value  # timestamps, custom tags: keep the text the user wrote


class _TooBig(Exception):
    def __init__(self, what: str, node: Node) -> None:
        super().__init__(what)
        self.node = node


def _decode(raw: bytes, file: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise FindingsError(
            [Diagnostic("KF004", f"expected UTF-8 text, got byte 0x{raw[e.start]:02x}", Loc(file, line, col))]
        )
    return text[1:] if text.startswith("\ufeff") else text


def parse(text: str, file: str) -> Document:
    """Parse one YAML document from text; every problem becomes a Diagnostic, never a traceback."""
    if len(text) > MAX_BYTES:
        raise FindingsError(
            [Diagnostic("KF003", f"expected at most {MAX_BYTES // (1024 * 1024)} MiB, got {len(text)} bytes",
                        Loc(file, 1, 1))]
        )
    walker = _Walker(file)
    loader = _Composer(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return Document({}, SourceMap(Loc(file, 1, 1)), file)
        data = walker.walk(root, (), 0)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file, 1, 1)
        problem = (e.problem or "invalid YAML").replace("\t", "\\t")
        at = mark.index if mark is not None and mark.index is not None else -1
        hint = "YAML does not allow tabs for indentation; use spaces" if 0 <= at < len(text) and text[at] == "\t" \
            else None
        code = "KF001"
        if "expected a single document" in problem:
            problem = "expected a single YAML document, got several"
        elif "maximum nesting depth" in problem:
            code, problem = "KF003", f"expected nesting of at most {MAX_DEPTH} levels, got more than 1000"
        raise FindingsError([Diagnostic(code, problem, loc, hint=hint)])
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        col = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise FindingsError([Diagnostic("KF001", f"expected printable text, got character #x{char:04x}",
                                        Loc(file, line, col), hint="YAML does not allow control characters")])
    except yaml.YAMLError as e:
        raise FindingsError([Diagnostic("KF001", f"invalid YAML: {e}", Loc(file, 1, 1))])
    except _TooBig as e:
        raise FindingsError([Diagnostic("KF003", f"expected a reasonably sized document, got {e}",
                                        walker.loc(e.node))])
    except RecursionError:
        raise FindingsError([Diagnostic("KF003", f"expected nesting of at most {MAX_DEPTH} levels",
                                        Loc(file, 1, 1))])
    finally:
        loader.dispose()
    source = SourceMap(Loc(file, 1, 1), walker.locs)
    source.by_path[()] = walker.loc(root)
    return Document(data, source, file, walker.diags)


def load(path: Path, display: str | None = None) -> Document:
    """Read and parse a file; `display` is the name used in messages (relative to the user's cwd)."""
    name = display or str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise FindingsError(
                [Diagnostic("KF003", f"expected at most {MAX_BYTES // (1024 * 1024)} MiB, got "
                            f"{path.stat().st_size} bytes", Loc(name, 1, 1))]
            )
        raw = path.read_bytes()
    except FindingsError:
        raise
    except OSError as e:
        raise FindingsError([Diagnostic("KF005", f"cannot read file: {e.strerror or e}", Loc(name, 1, 1))])
    return parse(_decode(raw, name), name)
