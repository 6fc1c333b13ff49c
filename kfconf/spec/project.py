"""A validated project: the typed model plus where every value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from kfconf.core.errors import Diagnostic
from kfconf.core.source import Loc, PathT, SourceMap
from kfconf.spec.model import MLProject

_UNSEEN = object()
NAMES, PARTS = -1, -2
"""Derived parts (Project.part): a path into the document starts with a key, so these never collide."""


@cache
def _aliases(model: type[BaseModel]) -> dict[str, str]:
    """A model's attribute names → its keys as written."""
    return {name: f.alias or name for name, f in model.model_fields.items()}


@dataclass
class Project:
    model: MLProject
    source: SourceMap
    dir: Path
    spec_file: str
    """The spec's name as shown in messages."""
    env: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    """The merged document before validation; entries that failed validation are only here."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Warnings found while validating; they travel with the project to every later stage."""
    reads: set[PathT] | None = field(default=None, repr=False, compare=False)
    """While a check runs under `spec.reuse.Reuse`: the parts of the document it read (`("metadata",)`,
    `("spec", "serving")`). Checks read the project only through the accessors below, which record it."""
    _parts: dict[PathT, Any] = field(default_factory=dict, repr=False, compare=False)
    facts: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    """What the checks found out about the project folder (whether a file exists): shared by the
    environments of one validation run, which see the same folder."""

    def _read(self, *part: str | int) -> None:
        if self.reads is not None:
            self.reads.add(part)

    def part(self, part: PathT) -> Any:
        """A part of the document as written (`("spec", "serving")`, `("spec", "serving", 0)`), or None;
        `(NAMES, KEY)` is the names of a section's entries, in order; `(PARTS,)` the parts there are.
        Found once per project: the document does not change while it is checked, and reuse asks for the
        same parts many times."""
        value = self._parts.get(part, _UNSEEN)
        if value is not _UNSEEN:
            return value
        if part[0] == PARTS:
            raw = self.raw if isinstance(self.raw, dict) else {}
            spec = raw.get("spec")
            sections = [("spec", k) for k in spec] if isinstance(spec, dict) else [("spec",)] if "spec" in raw else []
            value = (*((k,) for k in raw if k != "spec"), *sections)
        elif part[0] == NAMES:
            items = self.part(("spec", part[1]))
            value = tuple(e.get("name") if isinstance(e, dict) else None for e in items) \
                if isinstance(items, list) else ()
        else:
            value = self.raw
            for step in part:
                if isinstance(value, dict):
                    value = value.get(step)
                elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
                    value = value[step]
                else:
                    value = None
                    break
        self._parts[part] = value
        return value

    def parts(self) -> tuple[PathT, ...]:
        """The top-level parts of the document: each spec section, and every other top-level key."""
        self._read(PARTS)
        return self.part((PARTS,))

    def raw_at(self, *path: str) -> Any:
        """A value of the document as written (it may be malformed anywhere on the way), or None."""
        self._read(*path[:2 if path[:1] == ("spec",) else 1])
        return self.part(path)

    @property
    def name(self) -> str:
        self._read("metadata")
        return self.model.metadata.name

    @property
    def namespace(self) -> str:
        return str(self.profile.namespace)

    @property
    def profile(self) -> Any:
        self._read("spec", "profile")
        return self.model.spec.profile

    @property
    def images(self) -> dict[str, str]:
        self._read("spec", "images")
        return self.model.spec.images

    def has_image(self, name: str) -> bool:
        """Whether spec.images names this image (a read of that one name, not of every image)."""
        self._read("spec", "images", name)
        return name in self.model.spec.images

    def entries(self, key: str) -> list[Any]:
        self._read("spec", key)
        return self.model.entries(key)

    def raw_entries(self, key: str) -> list[tuple[int, dict[str, Any]]]:
        """The entries of a section as written, with their indexes, including those that failed the
        schema; the document may be malformed anywhere, so every step is checked."""
        self._read("spec", key)
        items = self.part(("spec", key))
        return [(i, e) for i, e in enumerate(items) if isinstance(e, dict)] if isinstance(items, list) else []

    def entry_names(self, key: str) -> tuple[Any, ...]:
        """The names of a section's entries as written, in order (None where an entry has none)."""
        self._read(NAMES, key)
        return self.part((NAMES, key))

    def entry_path(self, key: str, name: str) -> PathT:
        names = self.entry_names(key)
        return ("spec", key, names.index(name)) if name in names else ("spec", key)

    def entry(self, ref: str) -> Any | None:
        """`training/churn-model` → the training entry named churn-model, or None."""
        found = self._find(ref)
        if found is None:
            return None
        i, e = found
        self._read("spec", ref.partition("/")[0], i)  # this entry only: another entry of the section may change
        return e

    def entry_fields(self, ref: str, *fields: str) -> SimpleNamespace | None:
        """Some fields of the entry `ref` names — what a check reads of another section's entry, such as a
        trial's args. Only these fields count as read, so an overlay changing the entry's other fields
        does not run the check again; the result has these attributes and no others."""
        found = self._find(ref)
        if found is None:
            return None
        i, e = found
        key = ref.partition("/")[0]
        aliases = _aliases(type(e))
        for f in fields:
            self._read("spec", key, i, aliases[f])
        return SimpleNamespace(**{f: getattr(e, f) for f in fields})

    def _find(self, ref: str) -> tuple[int, BaseModel] | None:
        key, _, name = ref.partition("/")
        if key not in type(self.model.spec).model_fields:
            return None
        self._read(NAMES, key)
        for i, e in enumerate(self.model.entries(key)):
            if getattr(e, "name", None) == name:
                return i, e
        return None

    def loc(self, path: PathT) -> Loc:
        return self.source.at(path)

    def image(self, ref: str | None, default: str | None = None) -> str | None:
        """Resolve a named image (`trainer`) to its reference; a full reference passes through."""
        if ref is None:
            return default
        return self.images.get(ref, ref)
