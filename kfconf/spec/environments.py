"""Environments: `overlays/ENV.yaml` beside the spec, with `extends:` chains and `include:` of the
built-in reusable overlays shipped in the wheel (`kfconf/data/overlays`)."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.paths import shown
from kfconf.core.source import Loc, SourceMap, describe
from kfconf.spec.loader import Document, load, parse
from kfconf.spec.merge import merge

SPEC_FILE = "ml-project.yaml"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
OVERLAY_KEYS = ("apiVersion", "kind", "metadata", "extends", "include", "spec")


def builtin_overlays() -> list[str]:
    root = resources.files("kfconf") / "data" / "overlays"
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


@cache
def _builtin(name: str) -> Document | None:
    res = resources.files("kfconf") / "data" / "overlays" / f"{name}.yaml"
    if not res.is_file():
        return None
    return parse(res.read_text(encoding="utf-8"), f"<kfconf>/overlays/{name}.yaml")


def environments(project_dir: Path) -> list[str]:
    try:  # one scandir: what glob("*.yaml") finds, without its per-entry Path objects
        with os.scandir(project_dir / "overlays") as entries:
            return sorted(e.name[:-5] for e in entries if e.name.endswith(".yaml"))
    except OSError:
        return []


@dataclass
class Resolved:
    """The merged document of one environment, and which files went into it. Read only: `data` and
    `source` share everything an overlay did not change with the spec's document (and a parent's)."""

    data: Any
    source: SourceMap
    files: list[Path] = field(default_factory=list)
    env: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Non-fatal problems found while loading the files (duplicate keys, non-finite numbers)."""
    could_hold_credentials: bool = True
    """Whether any of the files could hold a pasted credential (see Document)."""


def _check_overlay(doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if not isinstance(doc.data, dict):
        return [Diagnostic("KF006", f"expected an Overlay mapping, got {describe(doc.data)}", doc.source.root)]
    if doc.data.get("kind", "Overlay") != "Overlay":
        out.append(Diagnostic("KF105", f"expected kind: Overlay, got {describe(doc.data.get('kind'))}",
                              doc.source.at(("kind",)), ("kind",)))
    for k in doc.data:
        if k not in OVERLAY_KEYS:
            close = difflib.get_close_matches(k, OVERLAY_KEYS, n=1)
            out.append(Diagnostic("KF101", f"unknown key '{k}'", doc.source.at((k,)), (k,),
                                  hint=f"did you mean '{close[0]}'?" if close else None))
    return out


def resolve(project_dir: Path, env: str | None = None, cwd: Path | None = None,
            spec: Document | None = None, overlays: dict[str, Document] | None = None,
            resolved: dict[str, Resolved | None] | None = None) -> Resolved:
    """Load the spec and merge the environment's overlay chain onto it.

    For resolving every environment of a project (with the same `spec`): `overlays` keeps the overlay
    files already parsed (merging never changes them), so a shared parent such as staging.yaml is parsed
    once; `resolved` keeps each environment's result, so `prod` (extends: staging) starts from staging as
    resolved, instead of merging staging again. Its parts are then the very objects of staging's, which
    is what lets validation reuse what it found in them (spec.reuse)."""
    spec_path = spec.path if spec is not None and spec.path is not None else project_dir / SPEC_FILE
    doc = spec or load(spec_path, shown(spec_path, cwd))
    if env is None:
        return Resolved(doc.data, doc.source, [spec_path], None, list(doc.diagnostics), doc.could_hold_credentials)
    if not isinstance(doc.data, dict):
        raise FindingsError([Diagnostic("KF006", f"expected a mapping, got {describe(doc.data)}", doc.source.root)])
    chain = _Chain(project_dir, cwd, doc, spec_path, overlays, resolved)
    chain.apply(env, None, False)
    if chain.diags:
        raise FindingsError([*chain.loaded, *chain.diags])
    return Resolved(chain.data, chain.source, chain.files, env, chain.loaded, chain.credentials)


class _Chain:
    """One environment's overlays applied in order: `extends` first, then `include`s, then its own spec.

    A class rather than nested functions: closures that call each other form a reference cycle, and the
    cycle would keep every merged document alive until the garbage collector finds it."""

    def __init__(self, project_dir: Path, cwd: Path | None, doc: Document, spec_path: Path,
                 overlays: dict[str, Document] | None, resolved: dict[str, Resolved | None] | None) -> None:
        self.project_dir, self.cwd, self.doc = project_dir, cwd, doc
        self.overlays, self.resolved = overlays, resolved
        self.data: dict[str, Any] = doc.data
        self.source = doc.source  # copied before the first merge changes it (a parent's too)
        self.owned = False
        self.files = [spec_path]
        self.loaded: list[Diagnostic] = list(doc.diagnostics)
        """Non-fatal problems of the files loaded (duplicate keys, non-finite numbers)."""
        self.diags: list[Diagnostic] = []
        self.credentials = doc.could_hold_credentials
        self.seen: list[str] = []

    def apply(self, name: str, where: Loc | None, builtin: bool) -> None:
        key = ("builtin:" if builtin else "") + name
        if key in self.seen:
            self.diags.append(Diagnostic("KF302", "expected an acyclic extends chain, got "
                                         f"{' → '.join([*self.seen, key])}", where))
            return
        self.seen.append(key)
        try:
            self.apply_one(name, where, builtin)
        finally:
            self.seen.pop()

    def apply_one(self, name: str, where: Loc | None, builtin: bool) -> None:
        diags = self.diags
        if not NAME.match(name):  # never a path: no ../, no slashes, nothing the file system chokes on
            what = "a built-in overlay name" if builtin else "an environment name"
            diags.append(Diagnostic("KF303" if builtin else "KF301", f"expected {what} (letters, digits, '.', "
                                    f"'_', '-'; at most 63), got {describe(name)}", where))
            return
        odoc = self.builtin(name, where) if builtin else self.overlay(name, where)
        if odoc is None:
            return
        self.credentials |= odoc.could_hold_credentials
        problems = _check_overlay(odoc)
        if problems:
            diags.extend(problems)
            return
        od: dict[str, Any] = odoc.data
        parent = od.get("extends")
        if parent is not None:
            if not isinstance(parent, str):
                diags.append(Diagnostic("KF103", f"expected an environment name, got {describe(parent)}",
                                        odoc.source.at(("extends",)), ("extends",)))
            elif self.data is self.doc.data and (base := self.parent(parent)) is not None:  # nothing merged yet
                self.data, self.source, self.owned = base.data, base.source, False
                self.files.extend(base.files[1:])
                self.loaded.extend(base.diagnostics[len(self.doc.diagnostics):])
                self.credentials |= base.could_hold_credentials
            else:
                self.apply(parent, odoc.source.at(("extends",)), False)
        includes = od.get("include") or []
        if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
            diags.append(Diagnostic("KF103", "expected a list of built-in overlay names",
                                    odoc.source.at(("include",)), ("include",)))
            includes = []
        for i, inc in enumerate(includes):
            self.apply(inc, odoc.source.at(("include", i)), True)
        body = od.get("spec")
        if body is not None:
            if not isinstance(body, dict):
                diags.append(Diagnostic("KF103", f"expected a mapping, got {describe(body)}",
                                        odoc.source.at(("spec",)), ("spec",)))
            else:
                if not self.owned:
                    self.source, self.owned = self.source.copy(), True
                merged, d = merge(self.data.get("spec", {}), self.source, body, odoc.source, ("spec",), ("spec",))
                diags.extend(d)
                self.data = {**self.data, "spec": merged}

    def builtin(self, name: str, where: Loc | None) -> Document | None:
        odoc = _builtin(name)
        if odoc is None:
            close = difflib.get_close_matches(name, builtin_overlays(), n=1)
            self.diags.append(Diagnostic("KF303", f"expected a built-in overlay ({', '.join(builtin_overlays())}), "
                                         f"got {name!r}", where, hint=f"did you mean '{close[0]}'?" if close else None))
        return odoc

    def overlay(self, name: str, where: Loc | None) -> Document | None:
        odoc = self.overlays.get(name) if self.overlays is not None else None
        if odoc is None:
            path = self.project_dir.joinpath("overlays", f"{name}.yaml")
            if not os.path.isfile(path):
                known = environments(self.project_dir)
                close = difflib.get_close_matches(name, known, n=1)
                self.diags.append(Diagnostic("KF301", f"expected an environment ({', '.join(known) or 'none defined'}),"
                                             f" got {name!r}", where,
                                             hint=f"did you mean '{close[0]}'?" if close else
                                             f"create overlays/{name}.yaml beside {SPEC_FILE}"))
                return None
            odoc = load(path, shown(path, self.cwd))
            if self.overlays is not None:
                self.overlays[name] = odoc
        self.files.append(odoc.path or self.project_dir.joinpath("overlays", f"{name}.yaml"))
        self.loaded.extend(odoc.diagnostics)
        return odoc

    def parent(self, name: str) -> Resolved | None:
        """The parent environment as resolved for this project (resolved now if need be), or None when
        there is no cache, it is being resolved (a cycle, which apply reports) or it has problems."""
        resolved = self.resolved
        if resolved is None or not NAME.match(name) or (name in resolved and resolved[name] is None):
            return None
        if name not in resolved:
            resolved[name] = None  # in progress
            try:
                resolved[name] = resolve(self.project_dir, name, self.cwd, self.doc, self.overlays, resolved)
            except FindingsError:
                return None
        return resolved[name]
