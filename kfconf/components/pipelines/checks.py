"""Pipeline checks: each step runs one thing, references and dependencies exist, no cycles."""

from __future__ import annotations

from collections.abc import Iterator

from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import cron_check, env_checks, image_check
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack
from kfconf.spec.validate import check_ref

RUNNABLE = ("data", "training", "tuning", "registry", "serving")


def topo_order(steps: list[object]) -> list[str] | None:
    """Step names in dependency order, or None when there is a cycle."""
    deps = {s.name: [a for a in s.after] for s in steps}  # type: ignore[attr-defined]
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str) -> bool:
        if state.get(n) == 1:
            return False
        if state.get(n) == 2 or n not in deps:
            return True
        state[n] = 1
        if not all(visit(d) for d in deps[n]):
            return False
        state[n] = 2
        order.append(n)
        return True

    return order if all(visit(n) for n in deps) else None


def _cycle(steps: list[object]) -> list[str]:
    deps = {s.name: list(s.after) for s in steps}  # type: ignore[attr-defined]
    for start in deps:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for d in deps.get(node, []):
                if d == start:
                    return [*trail, start]
                if d not in seen:
                    seen.add(d)
                    stack.append((d, [*trail, d]))
    return []


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    pipelines = project.entries("pipelines")
    defaults = [p.name for p in pipelines if p.default]
    if len(defaults) > 1:
        path = (*project.entry_path("pipelines", defaults[1]), "default")
        yield Diagnostic("KF205", f"expected one default pipeline, got {', '.join(defaults)}", project.loc(path), path)
    for pl in pipelines:
        base = project.entry_path("pipelines", pl.name)
        yield from cron_check(project, (*base, "schedule"), pl.schedule)
        names = [s.name for s in pl.steps]
        for i, step in enumerate(pl.steps):
            sp = (*base, "steps", i)
            if step.name in names[:i]:
                yield Diagnostic("KF107", f"expected unique step names, got '{step.name}' again",
                                 project.loc((*sp, "name")), (*sp, "name"))
            if (step.run is None) == (step.container is None):
                yield Diagnostic("KF205", "expected exactly one of run or container", project.loc(sp), sp)
            if step.run is not None:
                yield from check_ref(project, (*sp, "run"), step.run, RUNNABLE)
            if step.container is not None:
                yield from image_check(project, (*sp, "container", "image"), step.container.image)
                yield from env_checks(project, (*sp, "container", "env"), step.container.env)
            for j, dep in enumerate(step.after):
                if dep not in names:
                    yield Diagnostic("KF201", f"expected a step of pipeline {pl.name} ({', '.join(names)}), got "
                                     f"'{dep}'", project.loc((*sp, "after", j)), (*sp, "after", j))
                elif dep == step.name:
                    yield Diagnostic("KF202", f"expected a step not to depend on itself, got '{dep}'",
                                     project.loc((*sp, "after", j)), (*sp, "after", j))
        cycle = _cycle(pl.steps)
        if cycle and len(cycle) > 2:
            first = names.index(cycle[0])
            path = (*base, "steps", first, "after")
            yield Diagnostic("KF202", f"expected an acyclic pipeline, got the cycle {' → '.join(cycle)}",
                             project.loc(path), path)
