"""Load YAML into plain Python values plus a SourceMap.

libyaml's C parser (PyYAML's CSafeLoader) gives the event stream with a mark on every event; one pass
over the events builds dicts, lists and scalars and records where each came from. That skips the node
tree a composer builds (and the node objects PyYAML makes in Python), so loading with positions costs
less than composing alone, and several times less than a round-trip parser. The pass is also where
hostile input is stopped: duplicate keys, alias bombs, deep nesting, non-finite numbers.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.source import Loc, PathT, SourceMap, describe
from kfconf.spec.secrets import could_hold_credentials

try:  # the C parser; the pure-Python one is a slow but correct fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is in every PyYAML wheel we install
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 4 * 1024 * 1024  # a spec or overlay is a few KiB; anything this large is a mistake or an attack
MAX_DEPTH = 64
MAX_NODES = 200_000  # counted after alias expansion: stops "billion laughs"
_MEMO_LIMIT = 100_000  # distinct scalars remembered; hostile input can hold many

_resolver = _Loader("")  # PyYAML's YAML 1.1 tag resolution (SafeLoader has no path resolvers)
_constructor = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_CONSTRUCT = {_INT: _constructor.construct_yaml_int, _FLOAT: _constructor.construct_yaml_float,
              _BOOL: _constructor.construct_yaml_bool}
_loc = tuple.__new__  # a Loc without NamedTuple's Python-level __new__: one per value of every file
_PLAIN: dict[str, str] = {}
"""Tag of a plain scalar by its text: found by regex once per distinct text, not once per value."""
_TYPED: dict[tuple[str, str], Any] = {}
"""Value of an int, float or bool scalar by (tag, text): the results are immutable, so one will do."""


def _plain_tag(text: str) -> str:
    tag = _PLAIN.get(text)
    if tag is None:
        tag = _resolver.resolve(ScalarNode, text, (True, False))
        if len(_PLAIN) > _MEMO_LIMIT:
            _PLAIN.clear()
        _PLAIN[text] = tag
    return tag


@dataclass(slots=True)
class Document:
    """One YAML document: its values and where each one came from.

    `diagnostics` holds problems that did not stop the load (a duplicate key keeps its first value, a
    non-finite number becomes null), so they are reported together with everything validation finds."""

    data: Any
    source: SourceMap
    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    could_hold_credentials: bool = True
    """False when no string in the text can look like a pasted credential: the check need not look."""
    path: Path | None = None
    """The file it was loaded from (None for text parsed from elsewhere)."""


class _Anchor:
    """An anchored value: aliases get copies of it, with its positions, counted towards MAX_NODES."""

    __slots__ = ("key", "locs", "mark", "nodes", "value")

    def __init__(self, mark: Any, key: str | None) -> None:
        self.mark, self.key = mark, key  # key: the scalar's text, when an alias is used as a mapping key
        self.value: Any = None
        self.locs: list[tuple[PathT, Loc]] | None = None  # None while the anchored value is being built
        self.nodes = 0


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class _Builder:
    __slots__ = ("anchors", "diags", "file", "get", "locs", "nodes")

    def __init__(self, loader: Any, file: str) -> None:
        self.get = loader.get_event
        self.file = file
        self.locs: dict[PathT, Loc] = {}
        self.diags: list[Diagnostic] = []
        self.anchors: dict[str, _Anchor] = {}
        self.nodes = 0

    def loc(self, ev: Any) -> Loc:
        m = ev.start_mark
        return Loc(self.file, m.line + 1, m.column + 1)

    def value(self, ev: Any, path: PathT, depth: int) -> Any:
        """The value that starts with event `ev`, at `path`; its children's positions go into `locs`."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} values after expanding aliases", ev)
        if depth > MAX_DEPTH:
            raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels", ev)
        cls = type(ev)
        if cls is ScalarEvent:
            out = self.scalar(ev, path)
        elif cls is AliasEvent:
            return self.alias(ev, path)
        elif ev.anchor is not None:
            return self.anchored(ev, path, depth)
        elif cls is SequenceStartEvent:
            out = []
            get, locs, file, i = self.get, self.locs, self.file, 0
            while type(item := get()) is not SequenceEndEvent:
                p = (*path, i)
                m = item.start_mark
                locs[p] = _loc(Loc, (file, m.line + 1, m.column + 1))
                out.append(self.value(item, p, depth + 1))
                i += 1
        else:
            out = self.mapping(path, depth)
        if ev.anchor is not None:
            return self.anchored(ev, path, depth, out)
        return out

    def aside(self, ev: Any, path: PathT, depth: int) -> tuple[Any, dict[PathT, Loc]]:
        """Build a value with its positions kept apart from the document's (an anchored value, a merge
        source, a value that will be dropped)."""
        outer, self.locs = self.locs, {}
        try:
            value = self.value(ev, path, depth)
        finally:
            inner, self.locs = self.locs, outer
        return value, inner

    def anchored(self, ev: Any, path: PathT, depth: int, scalar: Any = None) -> Any:
        name = ev.anchor
        if name in self.anchors:
            first = self.anchors[name].mark.line + 1
            raise ComposerError(None, None, f"expected each anchor once, got {name!r} again (first at line {first})",
                                ev.start_mark)
        anchor = self.anchors[name] = _Anchor(ev.start_mark, ev.value if type(ev) is ScalarEvent else None)
        if type(ev) is ScalarEvent:
            anchor.value, anchor.locs, anchor.nodes = scalar, [], 1
            return scalar
        nodes = self.nodes
        ev.anchor = None
        out, inner = self.aside(ev, path, depth)
        self.nodes -= 1  # counted once, by the caller
        self.locs.update(inner)
        n = len(path)
        anchor.value, anchor.nodes = out, self.nodes - nodes + 1
        anchor.locs = [(p[n:], loc) for p, loc in inner.items()]
        return out

    def alias(self, ev: Any, path: PathT) -> Any:
        anchor = self.anchors.get(ev.anchor)
        if anchor is None:
            raise ComposerError(None, None, f"found undefined alias {ev.anchor!r}", ev.start_mark)
        if anchor.locs is None:
            raise _TooBig(f"an alias inside its own anchor {ev.anchor!r}", ev)
        self.nodes += anchor.nodes - 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} values after expanding aliases", ev)
        for rel, loc in anchor.locs:
            self.locs[path + rel] = loc
        return _copy(anchor.value)

    def mapping(self, path: PathT, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges: list[tuple[Any, dict[PathT, Loc], Any]] = []
        get, locs, file = self.get, self.locs, self.file
        while type(kev := get()) is not MappingEndEvent:
            kcls = type(kev)
            if kcls is ScalarEvent:
                key = kev.value
                if key == "<<" and kev.tag is None and kev.implicit[0]:  # the only text that resolves to merge
                    vev = get()
                    merges.append((*self.aside(vev, path, depth + 1), vev))  # applied below: explicit keys win
                    continue
            elif kcls is AliasEvent and getattr(self.anchors.get(kev.anchor), "key", None) is not None:
                key = self.anchors[kev.anchor].key
            else:
                self.diags.append(Diagnostic("KF006", "expected a plain key, got a mapping or list as key",
                                             self.loc(kev), path))
                if kcls is not AliasEvent:
                    self.aside(kev, path, depth + 1)  # the key's own events
                self.aside(get(), path, depth + 1)
                continue
            m = kev.start_mark
            kloc = _loc(Loc, (file, m.line + 1, m.column + 1))
            p = (*path, key)
            if key in out:
                first = locs[p]
                self.diags.append(
                    Diagnostic("KF002", f"expected each key once, got {key!r} again (first at line {first.line}, "
                               f"column {first.col})", kloc, p, hint="remove one of them; kfconf keeps the first")
                )
                self.aside(get(), path, depth + 1)
                continue
            locs[p] = kloc
            vev = get()
            if type(vev) is ScalarEvent and vev.anchor is None and vev.tag is None and self.nodes < MAX_NODES:
                self.nodes += 1  # most values are strings: no need to go through value() and scalar()
                text = vev.value
                out[key] = text if not vev.implicit[0] or _PLAIN.get(text) == _STR else self.scalar(vev, p)
            else:
                out[key] = self.value(vev, p, depth + 1)
        for merged, inner, vev in merges:  # YAML merge keys: explicit keys win, then earlier merges
            sources = merged if isinstance(merged, list) else [merged]
            if not all(isinstance(m, dict) for m in sources):
                self.diags.append(Diagnostic("KF006", "expected a mapping after '<<'", self.loc(vev), path))
                continue
            taken: dict[str | int, int] = {}
            for i, src in enumerate(sources):
                for k, v in src.items():
                    if k not in out:
                        out[k], taken[k] = v, i
            n = len(path) + isinstance(merged, list)  # a source's keys sit at path[+ index]
            for q, loc in inner.items():
                rest = q[n:]
                if rest and taken.get(rest[0]) == (q[n - 1] if isinstance(merged, list) else 0):
                    locs[(*path, *rest)] = loc
        return out

    def scalar(self, ev: ScalarEvent, path: PathT) -> Any:
        text = ev.value
        tag = ev.tag
        if tag is None or tag == "!":
            if not ev.implicit[0]:
                return text  # quoted: a string
            tag = _PLAIN.get(text) or _plain_tag(text)
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        make = _CONSTRUCT.get(tag)
        if make is None:
            return text  # timestamps, custom tags: keep the text the user wrote
        key = (tag, text)
        if key in _TYPED:
            return _TYPED[key]
        try:
            value = make(ScalarNode(tag, text))  # non-finite floats load; the schema says KF007
        except ValueError:
            self.diags.append(
                Diagnostic("KF007", f"expected a number kfconf can represent, got {describe(text)}",
                           self.loc(ev), path)
            )
            return None
        if len(_TYPED) > _MEMO_LIMIT:
            _TYPED.clear()
        _TYPED[key] = value
        return value


class _TooBig(Exception):
    def __init__(self, what: str, ev: Any) -> None:
        super().__init__(what)
        self.ev = ev


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
        raise _too_big(file, f"{len(text)} bytes")
    loader = _Loader(text)
    builder = _Builder(loader, file)
    with _reported(text, file, loader, builder):
        loader.get_event()  # stream start
        ev: Any = loader.get_event()
        if type(ev) is StreamEndEvent:
            return Document({}, SourceMap(Loc(file, 1, 1)), file, could_hold_credentials=False)
        first: Any = loader.get_event()
        data = builder.value(first, (), 0)
        loader.get_event()  # document end
        extra: Any = loader.get_event()
        if type(extra) is not StreamEndEvent:
            raise ComposerError("expected a single document in the stream", ev.start_mark,
                                "but found another document", extra.start_mark)
    source = SourceMap(Loc(file, 1, 1), builder.locs)
    source.by_path[()] = builder.loc(first)
    return Document(data, source, file, builder.diags, could_hold_credentials(text))


def documents(text: str, file: str) -> list[tuple[Loc, Any]]:
    """Every document of a YAML stream, with the position it starts at: reading rendered manifests back (the
    syncer, a CI check), where values are what counts. The same values as PyYAML's safe loader gives —
    except that timestamps stay text, as Kubernetes reads them — in about half its time."""
    loader = _Loader(text)
    builder = _Builder(loader, file)
    out: list[tuple[Loc, Any]] = []
    with _reported(text, file, loader, builder):
        loader.get_event()  # stream start
        while type(loader.peek_event()) is not StreamEndEvent:
            loader.get_event()  # document start
            builder = _Builder(loader, file)  # limits count per document; positions below it are not kept
            first: Any = loader.get_event()
            out.append((builder.loc(first), builder.value(first, (), 0)))
            loader.get_event()  # document end
    return out


@contextmanager
def _reported(text: str, file: str, loader: Any, builder: _Builder) -> Iterator[None]:
    """Every problem of reading `text` as a located Diagnostic (FindingsError), never a traceback."""
    try:
        yield
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
                                        builder.loc(e.ev))])
    except RecursionError:
        raise FindingsError([Diagnostic("KF003", f"expected nesting of at most {MAX_DEPTH} levels",
                                        Loc(file, 1, 1))])
    finally:
        loader.dispose()


def load(path: Path, display: str | None = None) -> Document:
    """Read and parse a file; `display` is the name used in messages (relative to the user's cwd)."""
    name = display or str(path)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > MAX_BYTES:
                raise _too_big(name, f"{st.st_size} bytes")
            raw = f.read() if stat.S_ISREG(st.st_mode) else f.read(MAX_BYTES + 1)  # a device or pipe: bounded
    except OSError as e:
        raise FindingsError([Diagnostic("KF005", f"cannot read file: {e.strerror or e}", Loc(name, 1, 1))])
    if len(raw) > MAX_BYTES:
        raise _too_big(name, "more")
    doc = parse(_decode(raw, name), name)
    doc.path = path
    return doc


def _too_big(file: str, got: str) -> FindingsError:
    return FindingsError([Diagnostic("KF003", f"expected at most {MAX_BYTES // (1024 * 1024)} MiB, got {got}",
                                     Loc(file, 1, 1))])
