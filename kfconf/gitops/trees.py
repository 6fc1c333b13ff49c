"""Git trees built straight in the object database (gitpython/gitdb): no index, no work tree, no lock.

`replace_subtree(repo, base_tree, "envs/prod", files)` writes blobs and trees for `files` and returns
the root tree of a copy of `base_tree` whose folder `envs/prod` holds exactly `files` — every other
folder shared, unchanged, with the base. Objects are content-addressed and written atomically by
gitdb, so a process killed half-way leaves only unreferenced objects (git gc removes them) and never
a half-written repository.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from io import BytesIO
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import git

TREE_MODE = 0o040000
BLOB_MODE = 0o100644
EntryT = tuple[bytes, int, str]  # (binsha, mode, name) as gitpython's tree functions use


def write_object(repo: git.Repo, kind: bytes, data: bytes) -> bytes:
    """Store a loose object in-process (gitdb: temp file + rename); skipped when it already exists loose.

    gitpython's default object database would start one `git hash-object` per object — seconds for a
    thousand files; this is milliseconds.
    """
    from gitdb import IStream
    from gitdb.db.loose import LooseObjectDB

    binsha = hashlib.sha1(b"%s %d\0" % (kind, len(data)) + data).digest()
    hexsha = binsha.hex()
    if os.path.exists(os.path.join(repo.odb.root_path(), hexsha[:2], hexsha[2:])):
        return binsha
    LooseObjectDB.store(repo.odb, IStream(kind, len(data), BytesIO(data)))
    return binsha


def write_tree(repo: git.Repo, entries: list[EntryT]) -> bytes:
    from git.objects.fun import tree_to_stream

    # git's order: by name, a folder compared as if its name ended in "/"
    ordered = sorted(entries, key=lambda e: e[2].encode() + (b"/" if e[1] == TREE_MODE else b""))
    buf = BytesIO()
    tree_to_stream(ordered, buf.write)
    return write_object(repo, b"tree", buf.getvalue())


def read_tree(repo: git.Repo, binsha: bytes) -> list[EntryT]:
    from git.objects.fun import tree_entries_from_data

    return [(sha, mode, name) for sha, mode, name in tree_entries_from_data(repo.odb.stream(binsha).read())]


def build_tree(repo: git.Repo, files: Mapping[str, str | bytes],
               on_blob: Callable[[int], None] | None = None) -> bytes | None:
    """Tree of `files` (relative path → content); None when there are no files (git has no empty trees)."""
    nested: dict[str, Any] = {}
    for rel, content in sorted(files.items()):
        parts = [p for p in rel.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise ValueError(f"bad path in tree: {rel!r}")
        node = nested
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"{rel}: a file and a folder with one name")
        node[parts[-1]] = content.encode() if isinstance(content, str) else content
    count = [0]

    def write(node: dict[str, Any]) -> bytes:
        entries: list[EntryT] = []
        for name, child in node.items():
            if isinstance(child, dict):
                entries.append((write(child), TREE_MODE, name))
            else:
                entries.append((write_object(repo, b"blob", child), BLOB_MODE, name))
                count[0] += 1
                if on_blob:
                    on_blob(count[0])
        return write_tree(repo, entries)

    return write(nested) if nested else None


def replace_subtree(repo: git.Repo, base: bytes | None, path: str, new: bytes | None) -> bytes:
    """Root tree: `base` (a tree sha, or None for an empty repository) with folder `path` set to `new`
    (None removes it). `path` "." replaces the whole root."""
    parts = [p for p in path.strip("/").split("/") if p and p != "."]
    if not parts:
        return new if new is not None else write_tree(repo, [])

    def splice(tree: bytes | None, rest: list[str]) -> bytes | None:
        entries = read_tree(repo, tree) if tree is not None else []
        name = rest[0]
        current = next((e for e in entries if e[2] == name), None)
        others = [e for e in entries if e[2] != name]
        if len(rest) == 1:
            child = new
        else:
            below = current[0] if current is not None and current[1] == TREE_MODE else None
            child = splice(below, rest[1:])
        if child is not None:
            others.append((child, TREE_MODE, name))
        return write_tree(repo, others) if others else None

    root = splice(base, parts)
    return root if root is not None else write_tree(repo, [])


def subtree(repo: git.Repo, root: bytes | None, path: str) -> bytes | None:
    """The tree at `path` under `root`, or None."""
    node = root
    for p in [p for p in path.strip("/").split("/") if p and p != "."]:
        if node is None:
            return None
        entry = next((e for e in read_tree(repo, node) if e[2] == p), None)
        if entry is None or entry[1] != TREE_MODE:
            return None
        node = entry[0]
    return node


def files_of(repo: git.Repo, tree: bytes | None, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(relative path, blob sha) of every file below `tree`."""
    if tree is None:
        return
    for sha, mode, name in read_tree(repo, tree):
        if mode == TREE_MODE:
            yield from files_of(repo, sha, f"{prefix}{name}/")
        else:
            yield f"{prefix}{name}", sha


def blob_text(repo: git.Repo, binsha: bytes) -> str:
    return bytes(repo.odb.stream(binsha).read()).decode("utf-8", errors="replace")
