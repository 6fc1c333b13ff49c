"""A validated project: the typed model plus where every value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.core.errors import Diagnostic
from kfconf.core.source import Loc, PathT, SourceMap
from kfconf.spec.model import MLProject


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

    @property
    def name(self) -> str:
        return self.model.metadata.name

    @property
    def namespace(self) -> str:
        return str(self.model.spec.profile.namespace)

    def entries(self, key: str) -> list[Any]:
        return self.model.entries(key)

    def raw_entries(self, key: str) -> list[tuple[int, dict[str, Any]]]:
        """The entries of a section as written, with their indexes, including those that failed the
        schema; the document may be malformed anywhere, so every step is checked."""
        spec = self.raw.get("spec") if isinstance(self.raw, dict) else None
        items = spec.get(key) if isinstance(spec, dict) else None
        return [(i, e) for i, e in enumerate(items) if isinstance(e, dict)] if isinstance(items, list) else []

    def entry_path(self, key: str, name: str) -> PathT:
        for i, e in self.raw_entries(key):
            if e.get("name") == name:
                return ("spec", key, i)
        return ("spec", key)

    def entry(self, ref: str) -> Any | None:
        """`training/churn-model` → the training entry named churn-model, or None."""
        key, _, name = ref.partition("/")
        for e in self.model.entries(key) if key in type(self.model.spec).model_fields else ():
            if getattr(e, "name", None) == name:
                return e
        return None

    def loc(self, path: PathT) -> Loc:
        return self.source.at(path)

    def image(self, ref: str | None, default: str | None = None) -> str | None:
        """Resolve a named image (`trainer`) to its reference; a full reference passes through."""
        if ref is None:
            return default
        return self.model.spec.images.get(ref, ref)
