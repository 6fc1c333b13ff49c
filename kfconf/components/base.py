"""What a Kubeflow component slice provides to the core stages.

The core never names a component: it walks `kfconf.components.REGISTRY`. Render, health and local
functions are named as "module:function" and imported on first use, so `kfconf validate` does not
pay for protobufs, the Kubernetes client or the local engines.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfconf.spec.types import Model

if TYPE_CHECKING:
    from kfconf.build.context import RenderContext
    from kfconf.core.errors import Diagnostic
    from kfconf.core.resource import Resource
    from kfconf.spec.project import Project
    from kfconf.spec.stacks import Stack


@dataclass(frozen=True)
class RefField:
    """A field of an entry that references other entries, e.g. tuning.trial → training."""

    field: str
    kinds: tuple[str, ...]
    uri_ok: bool = False


@dataclass(frozen=True)
class Component:
    key: str
    """The spec section, e.g. "training"; also the component label on its resources."""
    model: type[Model]
    many: bool = True
    required: bool = False
    refs: tuple[RefField, ...] = ()
    check: str | None = None
    """"module:function" (Project, Stack | None) -> Iterable[Diagnostic]: semantic checks of this section.
    For a section of entries it runs only when there are entries; it reads the project only through
    Project's accessors (they record what it read, so another environment can reuse its findings)."""
    render: str | None = None
    """"module:function" (RenderContext) -> Iterable[Resource]."""
    health: str | None = None
    """"module:HEALTH", a mapping Kind → function(obj) -> sync health status."""
    rules: str | None = None
    """"module:RULES", a mapping "group/Kind" → the upstream webhook's rules for a rendered object
    (kfconf.build.rules_webhook: function(body, RuleContext) -> Iterable[(field path, message)])."""
    local: str | None = None
    """"module:function" run locally by `kfconf run`."""
    name_limit: int = 63
    docs: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def load(self, attr: str) -> Any:
        target = getattr(self, attr)
        if target is None:
            return None
        if target not in self._cache:
            mod, _, fn = target.partition(":")
            self._cache[target] = getattr(importlib.import_module(mod), fn)
        return self._cache[target]

    def run_check(self, project: Project, stack: Stack | None) -> Iterable[Diagnostic]:
        fn: Callable[[Project, Stack | None], Iterable[Diagnostic]] | None = self.load("check")
        return fn(project, stack) if fn else ()

    def run_render(self, ctx: RenderContext) -> Iterable[Resource]:
        fn: Callable[[RenderContext], Iterable[Resource]] | None = self.load("render")
        return fn(ctx) if fn else ()
