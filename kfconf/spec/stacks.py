"""Stacks: the target platform (Kubeflow release, component versions, API versions, runtimes, images).

Built-in stacks ship in the wheel (`kfconf/data/stacks`); a project may name its own stack file
(`stack: ./stacks/mine.yaml`) that `extends:` a built-in one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, PrivateAttr, ValidationError

from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.source import Loc, describe
from kfconf.spec.environments import NAME
from kfconf.spec.loader import Document, load, parse
from kfconf.spec.merge import merge
from kfconf.spec.types import Model

_T = TypeVar("_T")


class StackMeta(Model):
    name: str
    description: str = ""
    platform: str = ""


class Stack(Model):
    """A resolved stack. Component sections are free-form: each component slice reads its own."""

    api_version: str = Field("kfconf.dev/v1alpha1", alias="apiVersion")
    kind: str = "Stack"
    metadata: StackMeta
    extends: str | None = None
    components: dict[str, dict[str, Any]] = Field(default_factory=dict)
    runtimes: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    images: dict[str, str] = Field(default_factory=dict)
    features: dict[str, bool] = Field(default_factory=dict)
    _derived: dict[Hashable, Any] = PrivateAttr(default_factory=dict)

    @property
    def name(self) -> str:
        return self.metadata.name

    def derived(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """A value computed from this (immutable) stack once, e.g. which runtimes serve a model format."""
        derived = self.__pydantic_private__["_derived"]  # type: ignore[index]  # not self._derived: that
        if key not in derived:  # goes through BaseModel.__getattr__, slower than the computation it saves
            derived[key] = compute()
        return derived[key]

    def component(self, key: str) -> dict[str, Any]:
        return self.components.get(key, {})

    def feature(self, name: str) -> bool:
        return bool(self.features.get(name, False))

    def runtime(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.runtimes.get(kind, {}).get(name)


def builtin_stacks() -> list[str]:
    root = resources.files("kfconf") / "data" / "stacks"
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


@cache
def _builtin_doc(name: str) -> Document | None:
    """The parsed built-in stack file (cached: stacks ship in the wheel and never change in a process)."""
    res = resources.files("kfconf") / "data" / "stacks" / f"{name}.yaml"
    if not res.is_file():
        return None
    return parse(res.read_text(encoding="utf-8"), f"<kfconf>/stacks/{name}.yaml")


def _doc(ref: str, project_dir: Path | None, where: Loc | None) -> Document:
    if _is_path(ref):
        if project_dir is None:
            raise FindingsError([Diagnostic("KF303", f"expected a built-in stack, got a path {ref!r}", where)])
        path = (project_dir / ref).resolve()
        root = project_dir.resolve()
        if not path.is_relative_to(root):
            raise FindingsError([Diagnostic("KF207", f"expected a stack file inside the project, got {describe(ref)}",
                                            where)])
        return load(path, ref)
    doc = _builtin_doc(ref) if NAME.match(ref) else None
    if doc is None:
        known = builtin_stacks()
        close = difflib.get_close_matches(ref, known, n=1)
        raise FindingsError([Diagnostic("KF303", f"expected a built-in stack ({', '.join(known)}) or a "
                                        f"./path.yaml, got {describe(ref)}", where,
                                        hint=f"did you mean '{close[0]}'?" if close else None)])
    return doc


def _resolve(ref: str, project_dir: Path | None, where: Loc | None, chain: tuple[str, ...]) -> Document:
    if ref in chain:
        raise FindingsError([Diagnostic("KF302", f"expected an acyclic stack chain, got "
                                        f"{' → '.join([*chain, ref])}", where)])
    doc = _doc(ref, project_dir, where)
    if not isinstance(doc.data, dict):
        raise FindingsError([Diagnostic("KF006", "expected a Stack mapping", doc.source.root)])
    parent = doc.data.get("extends")
    if not isinstance(parent, str):
        return doc
    base = _resolve(parent, project_dir if _is_path(ref) else None, doc.source.at(("extends",)),
                    (*chain, ref))
    src = base.source.copy()
    body = {k: v for k, v in doc.data.items() if k != "extends"}
    merged, diags = merge(base.data, src, body, doc.source)
    if diags:
        raise FindingsError(diags)
    return Document(merged, src, doc.file)


def _is_path(ref: str) -> bool:
    return ref.startswith((".", "/")) or ref.endswith(".yaml")


def _validated(doc: Document) -> Stack:
    try:
        return Stack.model_validate(doc.data)
    except ValidationError as e:
        from kfconf.spec.validate import schema_diagnostics

        raise FindingsError(schema_diagnostics(doc.data, doc.source, e, root=Stack))


@cache
def _builtin_stack(name: str) -> Stack:
    return _validated(_resolve(name, None, None, ()))


def load_stack(ref: str, project_dir: Path | None = None, where: Loc | None = None) -> Stack:
    """Resolve a stack reference (built-in name or project-relative file) into a Stack."""
    if _is_path(ref):
        return _validated(_resolve(ref, project_dir, where, ()))
    if not NAME.match(ref) or _builtin_doc(ref) is None:
        _doc(ref, None, where)  # raises the "unknown stack" finding at `where`
    return _builtin_stack(ref)
