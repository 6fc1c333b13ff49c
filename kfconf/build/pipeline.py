"""build_project: one project × one environment × one stack → checked resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kfconf.build.context import RenderContext
from kfconf.build.postprocess import postprocess
from kfconf.components import REGISTRY
from kfconf.core.errors import Diagnostic, FindingsError, Severity
from kfconf.core.resource import Resource
from kfconf.spec.environments import resolve
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack
from kfconf.spec.validate import validate

if TYPE_CHECKING:
    from kfconf.build.cache import BuildCache


@dataclass
class BuildResult:
    project: Project
    stack: Stack
    env: str | None
    resources: list[Resource]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    files: dict[str, str] | None = None
    """The emitted tree (emit.render_tree) when the build went through a cache; None otherwise."""
    cached: bool = False


def load_project(project_dir: Path, env: str | None = None, stack: str | None = None,
                 cwd: Path | None = None) -> tuple[Project, Stack, list[Path]]:
    """Resolve the environment and validate; raises FindingsError with every problem."""
    resolved = resolve(project_dir, env, cwd)
    project, st, diags = validate(resolved.data, resolved.source, project_dir, resolved.source.root.file, env,
                                  stack, resolved.diagnostics, credentials=resolved.could_hold_credentials)
    if project is None or st is None:
        raise FindingsError(diags)
    return project, st, resolved.files


def render(project: Project, stack: Stack) -> list[Resource]:
    out: list[Resource] = []
    for c in REGISTRY:
        out.extend(c.run_render(RenderContext(project, stack, c.key)))
    return out


def build_project(project_dir: Path, env: str | None = None, stack: str | None = None,
                  cwd: Path | None = None, check: bool = True, cache: BuildCache | None = None) -> BuildResult:
    """With a cache, an unchanged project returns its emitted tree without being loaded or rendered."""
    if cache is not None:
        from kfconf.build.cache import cached_build

        return cached_build(cache, project_dir, env, stack, cwd, check)
    project, st, inputs = load_project(project_dir, env, stack, cwd)
    resources = postprocess(project, st, render(project, st))
    diags = list(project.diagnostics)
    if check:
        from kfconf.build.outcheck import check_resources

        problems = check_resources(resources, st, local_dirs=[project.dir / ".kfconf" / "schemas"])
        if any(d.severity is Severity.ERROR for d in problems):
            raise FindingsError([*diags, *problems])
        diags.extend(problems)
    return BuildResult(project, st, env, resources, diags, inputs)
