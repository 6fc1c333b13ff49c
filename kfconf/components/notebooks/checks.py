"""Notebook checks: a known image, PodDefaults the profile offers, volumes with one source."""

from __future__ import annotations

from collections.abc import Iterator

from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import env_checks, image_check, warn
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    offered = {p.name for p in project.profile.pod_defaults}
    known = {k.removeprefix("notebook:"): v for k, v in (stack.images if stack else {}).items()
             if k.startswith("notebook:")}
    for nb in project.entries("notebooks"):
        base = project.entry_path("notebooks", nb.name)
        if stack is not None:
            yield from image_check(project, (*base, "image"), nb.image, known)
        yield from env_checks(project, (*base, "env"), nb.env)
        for i, vol in enumerate(nb.volumes):
            if vol.source_count() != 1:
                p = (*base, "volumes", i)
                yield Diagnostic("KF205", f"expected exactly one of claim, configMap, secret or emptyDir, got "
                                 f"{vol.source_count()}", project.loc(p), p)
        for i, pd in enumerate(nb.pod_defaults):
            if pd not in offered:
                yield warn("KF201", f"PodDefault '{pd}' is not defined in spec.profile.podDefaults; it must "
                           "exist in the namespace already", project, (*base, "podDefaults", i))
