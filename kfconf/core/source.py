"""Source locations: every value of a spec remembers the file, line and column it came from."""

from __future__ import annotations

from typing import Any, NamedTuple

PathT = tuple[str | int, ...]


class Loc(NamedTuple):
    """A 1-based position in a file, as editors and `file:line:col` links count.

    A NamedTuple rather than a dataclass: the loader makes one per YAML node, and tuples are the cheapest."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def fmt_path(path: PathT) -> str:
    """('spec', 'training', 0, 'nodes') -> 'spec.training[0].nodes'."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(("." if out else "") + part)
    return "".join(out) or "<root>"


class SourceMap:
    """Locations of a document's values by path; merged overlays keep the location of the winning value."""

    __slots__ = ("by_path", "root")

    def __init__(self, root: Loc, by_path: dict[PathT, Loc] | None = None) -> None:
        self.root = root
        self.by_path: dict[PathT, Loc] = by_path if by_path is not None else {}

    def at(self, path: PathT) -> Loc:
        """The location of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            loc = self.by_path.get(p)
            if loc is not None:
                return loc
            p = p[:-1]
        return self.by_path.get((), self.root)

    def exact(self, path: PathT) -> Loc | None:
        return self.by_path.get(tuple(path))

    def copy(self) -> SourceMap:
        return SourceMap(self.root, dict(self.by_path))

    def drop_under(self, path: PathT) -> None:
        n = len(path)
        for p in [p for p in self.by_path if p[:n] == path and len(p) > n]:
            del self.by_path[p]

    def graft(self, path: PathT, other: SourceMap, other_path: PathT = ()) -> None:
        """Copy `other`'s locations below `other_path` to below `path` here."""
        n = len(other_path)
        for p, loc in other.by_path.items():
            if p[:n] == other_path:
                self.by_path[path + p[n:]] = loc


def describe(value: Any, limit: int = 60) -> str:
    """A short, safe rendering of a found value for 'got …' in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
