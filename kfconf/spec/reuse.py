"""What validation made of the parts of a project, kept while its environments are validated.

`kfconf validate` checks the base and every environment, and an overlay changes a few parts of the spec.
Merging shares every part an overlay leaves alone by reference, so a part that is the same object is
validated the same way:
- the schema: a spec section or entry validated before goes into the model as its model (pydantic takes
  an instance of the field's class as it is), so only the entries an overlay changed are validated again;
- the semantic checks: a check re-runs only when a part it read changed. A check's inputs are observed, not
  declared: `Project` records which parts a check reads (a spec section, one entry, the names of a
  section's entries, one named image, `metadata`), and the stack it ran with is part of the key.
A part is the same when it is the same object (for a mapping or list) or an equal value; `Reuse` keeps
the parts it compared against, so their ids stay valid for as long as it lives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kfconf.core.errors import Diagnostic
from kfconf.core.source import PathT
from kfconf.spec.model import MLProject, ProjectSpec
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack

_Inputs = tuple[tuple[PathT, Any], ...]
_FIELDS = {f.alias or name: name for name, f in ProjectSpec.model_fields.items()}


class Reuse:
    """Findings of each check, with the parts of the document it read; one instance per project."""

    __slots__ = ("_found", "_parts", "facts")

    def __init__(self) -> None:
        self._found: dict[str, list[tuple[Stack | None, _Inputs, list[Diagnostic]]]] = {}
        self._parts: dict[int, tuple[Any, Any]] = {}
        """id(raw part) → (the raw part, which keeps the id valid, and what pydantic made of it)."""
        self.facts: dict[Any, Any] = {}
        """Project.facts for every environment of the project."""

    def model(self, data: dict[str, Any]) -> MLProject:
        """`MLProject.model_validate(data)`, with the spec sections and entries already validated passed
        as models. Raises ValidationError as that would; only a document that validated is remembered."""
        spec = data.get("spec")
        if not isinstance(spec, dict):
            return MLProject.model_validate(data)
        known = self._parts
        given: dict[str, Any] = {}
        fresh: list[tuple[str, Any]] = []
        for k, v in spec.items():
            hit = known.get(id(v))
            if hit is not None and hit[0] is v:
                given[k] = hit[1]
                continue
            if isinstance(v, list):  # a section an overlay changed: its unchanged entries still count
                v = [h[1] if (h := known.get(id(e))) is not None and h[0] is e else e for e in v]
            given[k] = v
            fresh.append((k, spec[k]))
        model = MLProject.model_validate({**data, "spec": given})
        for k, v in fresh:
            name = _FIELDS.get(k)
            if name is None or not isinstance(v, dict | list):
                continue
            validated = getattr(model.spec, name)
            known[id(v)] = (v, validated)
            if isinstance(v, list):
                known.update((id(e), (e, m)) for e, m in zip(v, validated, strict=True) if isinstance(e, dict))
        return model

    def run(self, name: str, project: Project, stack: Stack | None,
            check: Callable[[], Iterable[Diagnostic]]) -> list[Diagnostic]:
        """`check()`'s findings, reused when an earlier run read parts that are the same as `project`'s."""
        runs = self._found.get(name)
        if runs is None:
            runs = self._found[name] = []
        part = project.part
        for st, inputs, found in runs:
            if st is not stack:
                continue
            for p, value in inputs:
                now = part(p)
                if now is not value and (isinstance(value, dict | list) or type(now) is not type(value)
                                         or now != value):
                    break  # a mapping or list is the same part only as the same object (pinned here)
            else:
                return found
        project.reads = set()
        try:
            found = list(check())
            read = project.reads
        finally:
            project.reads = None
        runs.append((stack, tuple((p, part(p)) for p in read), found))
        return found
