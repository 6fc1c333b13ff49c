"""The schema set: which schema checks a kind for a stack, compiled once and cached.

Shipped schemas live in the wheel (`kfconf/data/schemas/<group>/<release>/<Kind>.json`, made by
tools/gen_schemas.py); `index.json` says which file serves each component release. A stack names
its component releases (`components.trainer.version: v2.1.0`), so TrainJob is checked against the
2.1 schema on kubeflow-26.03 and the 2.3 one on kubeflow-latest. A project's own CRDs, imported with
`kfconf schemas import` into `.kfconf/schemas/`, take precedence over the shipped ones.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

from kfconf.spec.stacks import Stack

LOCAL_DIR = Path(".kfconf") / "schemas"
"""Where `kfconf schemas import` writes, relative to a project."""


@dataclass(frozen=True)
class KindSchema:
    """The schema of one kind at one API version, from one file."""

    key: str
    """The file it came from: `trainer.kubeflow.org/v2.3.0/TrainJob.json`, or a local path."""
    group: str
    kind: str
    version: str
    release: str
    source: str
    doc: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def schema(self) -> dict[str, Any]:
        """A self-contained draft-07 schema: the version's root with the file's shared definitions."""
        return {"$schema": "http://json-schema.org/draft-07/schema#", **self.doc["versions"][self.version]["schema"],
                "definitions": self.doc.get("definitions", {})}

    @property
    def rules(self) -> list[dict[str, Any]]:
        return list(self.doc["versions"][self.version].get("rules", ()))

    @property
    def list_maps(self) -> list[dict[str, Any]]:
        return list(self.doc["versions"][self.version].get("listMaps", ()))

    @property
    def served(self) -> list[str]:
        return sorted(self.doc["versions"])


@dataclass(frozen=True)
class Lookup:
    schema: KindSchema | None
    why: str = ""
    """When there is no schema: why; when the release stands in for another: that note."""


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _group_dir(group: str) -> str:
    return group or "core"


def _shipped_root() -> Any:
    return resources.files("kfconf") / "data" / "schemas"


@cache
def shipped_index() -> dict[str, Any]:
    return dict(json.loads((_shipped_root() / "index.json").read_text(encoding="utf-8")))


@cache
def _shipped_doc(rel: str) -> dict[str, Any]:
    return dict(json.loads((_shipped_root() / rel).read_text(encoding="utf-8")))


def object_meta_definitions() -> dict[str, Any]:
    """Kubernetes' ObjectMeta and what it refers to, for converting imported CRDs."""
    return _shipped_doc(shipped_index()["objectMeta"])


_LOCAL: dict[tuple[Any, ...], dict[str, tuple[str, dict[str, Any]]]] = {}


def _local_docs(folder: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """`group/Kind` → (file, document) for every schema file under a project's local folder.

    Cached by the folder's files and their modification times, so an import is seen at once."""
    if not folder.is_dir():
        return {}
    files = sorted(folder.rglob("*.json"))
    sig = (str(folder), *((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    hit = _LOCAL.get(sig)
    if hit is not None:
        return hit
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for p in files:
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "kind" in doc and "versions" in doc:
            out[f"{_group_dir(str(doc.get('group', '')))}/{doc['kind']}"] = (str(p), doc)
    _LOCAL[sig] = out
    return out


def release_for(stack: Stack, component: str) -> tuple[str | None, str]:
    """The schema release a stack's component version maps to, and a note when it is a stand-in."""
    index = shipped_index()
    if component == "kubernetes":
        wanted = str(stack.component("kubernetes").get("version") or index["kubernetes"])
    else:
        v = stack.component(component).get("version")
        if v is None:
            return None, f"stack {stack.name} names no {component} version"
        wanted = str(v)
    alias = index.get("aliases", {}).get(component, {}).get(wanted)
    if alias:
        return str(alias["use"]), f"{component} {wanted} is checked with the {alias['use']} schemas: {alias['why']}"
    return wanted, ""


class SchemaSet:
    """Schemas for one build: the shipped set plus a project's local folders (which win)."""

    def __init__(self, local_dirs: Sequence[Path] = ()) -> None:
        self.local_dirs = tuple(Path(d) for d in local_dirs)
        self._local: list[dict[str, tuple[str, dict[str, Any]]]] | None = None

    def _locals(self) -> list[dict[str, tuple[str, dict[str, Any]]]]:
        """The local folders' schemas, read once per SchemaSet (one build), not once per resource."""
        if self._local is None:
            self._local = [_local_docs(d.resolve()) for d in self.local_dirs]
        return self._local

    def lookup(self, stack: Stack, api_version: str, kind: str) -> Lookup:
        group, version = split_api_version(api_version)
        key = f"{_group_dir(group)}/{kind}"
        for docs in self._locals():
            hit = docs.get(key)
            if hit is not None:
                path, doc = hit
                if version not in doc["versions"]:
                    return Lookup(None, f"{kind} {api_version} is not served by the imported CRD {path} "
                                        f"(it serves {', '.join(sorted(doc['versions']))})")
                return Lookup(KindSchema(path, group, kind, version, str(doc.get("release", "local")),
                                         str(doc.get("source", path)), doc))
        entry = shipped_index()["kinds"].get(key)
        if entry is None:
            return Lookup(None, f"kfconf ships no schema for {kind} ({api_version})")
        component = entry["component"]
        release, note = release_for(stack, component)
        if release is None:
            return Lookup(None, note)
        rel = entry["releases"].get(release)
        if rel is None:
            have = ", ".join(sorted(entry["releases"]))
            return Lookup(None, f"kfconf ships no {kind} schema for {component} {release} (it has {have})")
        doc = _shipped_doc(rel)
        if version not in doc["versions"]:
            served = ", ".join(f"{group}/{v}" if group else v for v in sorted(doc["versions"]))
            return Lookup(None, f"{component} {release} does not serve {kind} {api_version} (it serves {served})")
        return Lookup(KindSchema(rel, group, kind, version, release, str(doc["source"]), doc), note)


_COMPILED: dict[tuple[str, str], Callable[[Any], Any]] = {}


def cache_dir() -> Path:
    """Where compiled validators are kept between runs (`KFCONF_CACHE_DIR`, else the XDG cache)."""
    explicit = os.environ.get("KFCONF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kfconf" / "validators"


def compiled(ks: KindSchema) -> Callable[[Any], Any]:
    """A fastjsonschema validator for the schema, compiled once per file and API version.

    Compiling the generated code of a large CRD (InferenceService: ~3.7 MB of Python) takes seconds;
    the code object is therefore kept on disk (marshal, keyed by the schema, Python and
    fastjsonschema versions), which makes later runs load it in milliseconds.
    """
    k = (ks.key, ks.version)
    fn = _COMPILED.get(k)
    if fn is None:
        fn = _load_or_compile(ks.schema)
        _COMPILED[k] = fn
    return fn


CACHE_KEEP = 64
"""Compiled validators kept on disk (the least recently used go first); a schema set has ~50 kinds."""


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.marshal"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[CACHE_KEEP:]:
        old.unlink(missing_ok=True)


def _load_or_compile(schema: dict[str, Any]) -> Callable[[Any], Any]:
    import fastjsonschema

    raw = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    tag = f"{sys.version}|{fastjsonschema.VERSION}".encode()
    digest = hashlib.sha256(tag + b"\0" + raw).hexdigest()[:40]
    path = cache_dir() / f"{digest}.marshal"
    code = None
    try:
        code = marshal.loads(path.read_bytes())
        os.utime(path)  # recently used: kept by _prune
    except (OSError, ValueError, EOFError, TypeError):
        code = None
    if code is None:
        src = fastjsonschema.compile_to_code(schema, use_default=False, use_formats=False)
        code = compile(src, f"<kfconf validator {digest[:12]}>", "exec")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps(code))
            os.replace(tmp, path)
            _prune(path.parent)
        except OSError:
            pass  # a read-only cache only costs time
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return cast(Callable[[Any], Any], namespace["validate"])


_DETAILED: dict[tuple[str, str], Any] = {}


def detailed(ks: KindSchema) -> Any:
    """A jsonschema validator for the same schema: slower, but it reports every error with its path."""
    k = (ks.key, ks.version)
    v = _DETAILED.get(k)
    if v is None:
        from jsonschema import Draft7Validator

        v = Draft7Validator(ks.schema)
        _DETAILED[k] = v
    return v


def shipped_kinds() -> Iterable[tuple[str, dict[str, Any]]]:
    yield from shipped_index()["kinds"].items()
