"""Environments: `overlays/ENV.yaml` beside the spec, with `extends:` chains and `include:` of the
built-in reusable overlays shipped in the wheel (`kfconf/data/overlays`)."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePath
from typing import Any

from kfconf.core.errors import Diagnostic, FindingsError
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
            return sorted(PurePath(e.name).stem for e in entries if e.name.endswith(".yaml"))
    except OSError:
        return []


def _display(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return str(path.relative_to(base))
        except ValueError:
            pass
    return str(path)


@dataclass
class Resolved:
    """The merged document of one environment, and which files went into it."""

    data: Any
    source: SourceMap
    files: list[Path] = field(default_factory=list)
    env: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Non-fatal problems found while loading the files (duplicate keys, non-finite numbers)."""


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
            spec: Document | None = None, overlays: dict[Path, Document] | None = None) -> Resolved:
    """Load the spec and merge the environment's overlay chain onto it.

    `overlays`, when given, keeps the overlay files already parsed (merging never changes them), so
    resolving every environment of a project parses a shared parent such as staging.yaml once."""
    spec_path = project_dir / SPEC_FILE
    doc = spec or load(spec_path, _display(spec_path, cwd))
    data, source = doc.data, doc.source.copy()
    files = [spec_path]
    loaded: list[Diagnostic] = list(doc.diagnostics)
    if env is None:
        return Resolved(data, source, files, None, loaded)
    if not isinstance(data, dict):
        raise FindingsError([Diagnostic("KF006", f"expected a mapping, got {describe(data)}", source.root)])
    diags: list[Diagnostic] = []
    seen: list[str] = []

    def apply(name: str, where: Loc | None, builtin: bool) -> None:
        key = ("builtin:" if builtin else "") + name
        if key in seen:
            diags.append(Diagnostic("KF302", f"expected an acyclic extends chain, got {' → '.join([*seen, key])}",
                                    where))
            return
        seen.append(key)
        try:
            apply_one(name, where, builtin)
        finally:
            seen.pop()

    def apply_one(name: str, where: Loc | None, builtin: bool) -> None:
        nonlocal data
        if not NAME.match(name):  # never a path: no ../, no slashes, nothing the file system chokes on
            what = "a built-in overlay name" if builtin else "an environment name"
            diags.append(Diagnostic("KF303" if builtin else "KF301", f"expected {what} (letters, digits, '.', "
                                    f"'_', '-'; at most 63), got {describe(name)}", where))
            return
        if builtin:
            odoc = _builtin(name)
            if odoc is None:
                close = difflib.get_close_matches(name, builtin_overlays(), n=1)
                diags.append(Diagnostic("KF303", f"expected a built-in overlay ({', '.join(builtin_overlays())}), "
                                        f"got {name!r}", where, hint=f"did you mean '{close[0]}'?" if close else None))
                return
        else:
            path = project_dir / "overlays" / f"{name}.yaml"
            if not path.is_file():
                known = environments(project_dir)
                close = difflib.get_close_matches(name, known, n=1)
                diags.append(Diagnostic("KF301", f"expected an environment ({', '.join(known) or 'none defined'}), "
                                        f"got {name!r}", where,
                                        hint=f"did you mean '{close[0]}'?" if close else
                                        f"create overlays/{name}.yaml beside {SPEC_FILE}"))
                return
            odoc = overlays.get(path) if overlays is not None else None
            if odoc is None:
                odoc = load(path, _display(path, cwd))
                if overlays is not None:
                    overlays[path] = odoc
            files.append(path)
            loaded.extend(odoc.diagnostics)
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
            else:
                apply(parent, odoc.source.at(("extends",)), False)
        includes = od.get("include") or []
        if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
            diags.append(Diagnostic("KF103", "expected a list of built-in overlay names",
                                    odoc.source.at(("include",)), ("include",)))
            includes = []
        for i, inc in enumerate(includes):
            apply(inc, odoc.source.at(("include", i)), True)
        body = od.get("spec")
        if body is not None:
            if not isinstance(body, dict):
                diags.append(Diagnostic("KF103", f"expected a mapping, got {describe(body)}",
                                        odoc.source.at(("spec",)), ("spec",)))
            else:
                merged, d = merge(data.get("spec", {}), source, body, odoc.source, ("spec",), ("spec",))
                diags.extend(d)
                data = {**data, "spec": merged}

    apply(env, None, False)
    if diags:
        raise FindingsError([*loaded, *diags])
    return Resolved(data, source, files, env, loaded)
