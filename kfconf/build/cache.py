"""Content-addressed cache of rendered projects, for incremental builds.

The key of one build is a SHA-256 over everything that can change its output: the bytes of every file of
the project folder (spec, overlays, a project stack file, and the files the spec names — their presence is
checked), the environment, the stack override, whether output checks ran, the spec's name as messages show
it, and kfconf itself (its version plus a fingerprint of its installed files, so an edited checkout never
reads stale entries). Built-in stacks and overlays ship inside kfconf, so the fingerprint covers them.

An entry holds the emitted tree (file name → YAML, exactly what emit.render_tree returns), the warnings of
the build, and the resources as JSON; a hit returns them without loading, validating, rendering, checking
or emitting anything. The Project and Stack of a hit are loaded only if a caller asks for them.

Layout: CACHE_DIR/<key[:2]>/<key>.json (+ <key>.resources.json); every write is a rename, so concurrent
builds and crashes leave whole entries or none. Each (project, environment, stack) slot keeps its last
few entries, so switching back and forth between branches hits; older entries are removed.
Files larger than the loader's limit (data, models) are keyed by size and modification time, not bytes:
kfconf never reads them, it can only notice that they exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfconf.build.emit import render_tree
from kfconf.build.pipeline import BuildResult, build_project, load_project
from kfconf.core.errors import Diagnostic, Severity
from kfconf.core.paths import shown
from kfconf.core.resource import Resource
from kfconf.core.source import Loc

if TYPE_CHECKING:
    from kfconf.spec.project import Project
    from kfconf.spec.stacks import Stack

CACHE_DIR = Path(".kfconf") / "cache"
FORMAT = "1"
KEEP_PER_SLOT = 3
SPEC_FILE = "ml-project.yaml"
SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".kfconf", ".tox"})
LARGE = 4 * 1024 * 1024  # the loader's limit: larger files are never parsed, only probed


@cache
def fingerprint() -> str:
    """kfconf's version and the size and mtime of every file of the installed package (code and data)."""
    from kfconf import __version__

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"kfconf {__version__} format {FORMAT}\n".encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{os.path.relpath(os.path.join(dirpath, name), root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def project_files(project_dir: Path) -> list[Path]:
    """Every file of the project folder, sorted; not hidden folders, tool folders or nested projects."""
    out: list[Path] = []
    root = str(project_dir)
    for dirpath, dirnames, filenames in os.walk(root):
        keep = []
        for d in sorted(dirnames):
            if d in SKIP_DIRS or d.startswith("."):
                continue
            if os.path.isfile(os.path.join(dirpath, d, SPEC_FILE)):
                continue  # a nested project has its own cache key
            keep.append(d)
        dirnames[:] = keep
        out.extend(Path(dirpath, f) for f in sorted(filenames))
    return out


@dataclass
class Entry:
    """What a hit returns: the emitted tree, the warnings, and where the resources are."""

    key: str
    files: dict[str, str]
    diagnostics: list[Diagnostic]
    inputs: list[Path]
    resources_path: Path


class BuildCache:
    """A cache folder: `PROJECT/.kfconf/cache` by default (see `for_project`), or any folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @classmethod
    def for_project(cls, project_dir: Path) -> BuildCache:
        return cls(project_dir / CACHE_DIR)

    def key(self, project_dir: Path, env: str | None, stack: str | None, cwd: Path | None,
            check: bool = True) -> str:
        h = hashlib.sha256()
        name = shown(project_dir / SPEC_FILE, cwd)
        h.update(f"{fingerprint()}\0{env or ''}\0{stack or ''}\0{int(check)}\0{name}\n".encode())
        base = str(project_dir)
        for f in project_files(project_dir):
            rel = os.path.relpath(f, base)
            try:
                st = f.stat()
                if st.st_size > LARGE:
                    h.update(f"{rel}\0large\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
                    continue
                data = f.read_bytes()
            except OSError:
                h.update(f"{rel}\0unreadable\n".encode())
                continue
            h.update(f"{rel}\0{len(data)}\n".encode())
            h.update(data)
        return h.hexdigest()

    def _path(self, key: str, suffix: str = ".json") -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> Entry | None:
        path = self._path(key)
        try:
            raw = json.loads(path.read_bytes())
            if raw.get("format") != FORMAT or raw.get("key") != key:
                raise ValueError("stale format")
            entry = Entry(key, raw["files"], [_diag_from(d) for d in raw["diagnostics"]],
                          [Path(p) for p in raw["inputs"]], self._path(key, ".resources.json"))
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None  # missing, half-written by an old crash, or from another format: rebuild
        self.hits += 1
        return entry

    def put(self, key: str, slot: tuple[str, ...], result: BuildResult, files: dict[str, str]) -> None:
        meta = {"format": FORMAT, "key": key, "files": files,
                "diagnostics": [_diag_to(d) for d in result.diagnostics],
                "inputs": [str(p) for p in result.inputs]}
        resources = [_resource_to(r) for r in result.resources]
        try:
            # resources first: an entry whose meta exists always has its resources
            _write(self._path(key, ".resources.json"), json.dumps(resources, ensure_ascii=False))
            _write(self._path(key), json.dumps(meta, ensure_ascii=False))
            self._remember(slot, key)
        except OSError:
            pass  # a read-only or full disk makes the cache useless, not the build wrong

    def _remember(self, slot: tuple[str, ...], key: str) -> None:
        name = hashlib.sha256("\0".join(slot).encode()).hexdigest()
        path = self.root / "slots" / name
        try:
            keys = [k for k in path.read_text().split() if k != key]
        except OSError:
            keys = []
        keys.insert(0, key)
        for old in keys[KEEP_PER_SLOT:]:
            for suffix in (".json", ".resources.json"):
                self._path(old, suffix).unlink(missing_ok=True)
        _write(path, "\n".join(keys[:KEEP_PER_SLOT]) + "\n")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _loc_to(loc: Loc | None) -> list[Any] | None:
    return [loc.file, loc.line, loc.col] if loc is not None else None


def _loc_from(raw: list[Any] | None) -> Loc | None:
    return Loc(raw[0], raw[1], raw[2]) if raw is not None else None


def _diag_to(d: Diagnostic) -> dict[str, Any]:
    return {"code": d.code, "message": d.message, "loc": _loc_to(d.loc), "path": list(d.path), "hint": d.hint,
            "severity": d.severity.value}


def _diag_from(raw: dict[str, Any]) -> Diagnostic:
    return Diagnostic(raw["code"], raw["message"], _loc_from(raw["loc"]), tuple(raw["path"]), raw["hint"],
                      Severity(raw["severity"]))


def _resource_to(r: Resource) -> dict[str, Any]:
    return {"body": r.body, "origin": _loc_to(r.origin), "component": r.component, "entry": r.entry,
            "explain": r.explain}


def _resource_from(raw: dict[str, Any]) -> Resource:
    return Resource(raw["body"], _loc_from(raw["origin"]), raw["component"], raw["entry"], raw["explain"])


@dataclass
class _Lazy:
    """Loads what a hit skipped, on first use."""

    project_dir: Path
    env: str | None
    stack: str | None
    cwd: Path | None
    resources_path: Path
    check: bool = True
    loaded: dict[str, Any] = field(default_factory=dict)

    def project_and_stack(self) -> tuple[Project, Stack]:
        if "project" not in self.loaded:
            project, st, _ = load_project(self.project_dir, self.env, self.stack, self.cwd)
            self.loaded["project"], self.loaded["stack"] = project, st
        return self.loaded["project"], self.loaded["stack"]

    def resources(self) -> list[Resource]:
        if "resources" not in self.loaded:
            try:
                raw = json.loads(self.resources_path.read_bytes())
                self.loaded["resources"] = [_resource_from(r) for r in raw]
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                # evicted by a concurrent build since the hit, or torn: the build itself is the truth
                self.loaded["resources"] = build_project(self.project_dir, self.env, self.stack, self.cwd,
                                                         self.check).resources
        return self.loaded["resources"]


class CachedBuildResult(BuildResult):
    """A BuildResult from a hit: files and diagnostics at once; resources, project and stack on first use."""

    def __init__(self, entry: Entry, lazy: _Lazy) -> None:  # project, stack, resources: properties below
        self._lazy = lazy
        self.env = lazy.env
        self.diagnostics = entry.diagnostics
        self.inputs = entry.inputs
        self.files = entry.files
        self.cached = True

    @property
    def project(self) -> Project:  # type: ignore[override]
        return self._lazy.project_and_stack()[0]

    @property
    def stack(self) -> Stack:  # type: ignore[override]
        return self._lazy.project_and_stack()[1]

    @property
    def resources(self) -> list[Resource]:  # type: ignore[override]
        return self._lazy.resources()


def cached_build(cache: BuildCache, project_dir: Path, env: str | None, stack: str | None, cwd: Path | None,
                 check: bool) -> BuildResult:
    """build_project through the cache: a hit returns the stored build, a miss builds, emits and stores."""
    key = cache.key(project_dir, env, stack, cwd, check)
    entry = cache.get(key)
    if entry is not None:
        return CachedBuildResult(entry, _Lazy(project_dir, env, stack, cwd, entry.resources_path, check))
    result = build_project(project_dir, env, stack, cwd, check)
    result.files = render_tree(result.resources)
    slot = (shown(project_dir / SPEC_FILE, cwd), str(project_dir.resolve()), env or "", stack or "", str(check))
    cache.put(key, slot, result, result.files)
    return result
