"""The compile pipeline: resolve → render all → post-process → check → emit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kfconf.build.pipeline import BuildResult, build_project

__all__ = ["BuildResult", "build_project"]


def __getattr__(name: str) -> Any:
    # lazy: importing one stage (emit, outcheck, schemas) does not load the spec models and every renderer
    if name in __all__:
        from kfconf.build import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'kfconf.build' has no attribute {name!r}")
