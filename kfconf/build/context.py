"""What a component renderer receives: the project, the stack and helpers to make resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kfconf.core.resource import Resource
from kfconf.core.source import Loc, PathT
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack


@dataclass
class RenderContext:
    project: Project
    stack: Stack
    component: str
    """The key of the component being rendered; set by the pipeline for each component."""

    @property
    def env(self) -> str | None:
        return self.project.env

    @property
    def namespace(self) -> str:
        return self.project.namespace

    def entries(self) -> list[Any]:
        return self.project.entries(self.component)

    def path(self, entry: Any) -> PathT:
        """The spec path of an entry of the component being rendered."""
        if not hasattr(entry, "name") or self.project.model.section(self.component) is entry:
            return ("spec", self.component)
        return self.project.entry_path(self.component, entry.name)

    def loc(self, path: PathT) -> Loc:
        return self.project.loc(path)

    def resource(self, body: dict[str, Any], entry: Any = None, path: PathT | None = None) -> Resource:
        """Wrap a body; its origin is the entry's spec line (or `path` when given)."""
        where = path if path is not None else (self.path(entry) if entry is not None else ("spec",))
        return Resource(body=body, origin=self.loc(where), component=self.component,
                        entry=getattr(entry, "name", "") or "")

    def origin(self, path: PathT) -> str:
        """Where the value at a spec path came from: `ml-project.yaml:33`, `overlays/prod.yaml:12`, or
        `default` when the spec does not set it (the model's default applies). Used by --explain."""
        loc = self.project.source.exact(path)
        if loc is None:
            return "default"
        from kfconf.build.postprocess import project_relative

        return f"{project_relative(self.project, loc.file)}:{loc.line}"

    def stack_origin(self, what: str) -> str:
        """Provenance of a value taken from the stack, e.g. `stack kubeflow-latest: components.trainer`."""
        return f"stack {self.stack.name}: {what}"

    def image(self, ref: str | None, default_key: str | None = None) -> str:
        """A named project image, a full reference, or the stack's default image for `default_key`."""
        if ref:
            return self.project.model.spec.images.get(ref, ref)
        if default_key and default_key in self.stack.images:
            return self.stack.images[default_key]
        raise KeyError(default_key or "image")
