"""The compile pipeline: resolve → render all → post-process → check → emit."""

from kfconf.build.pipeline import BuildResult, build_project

__all__ = ["BuildResult", "build_project"]
