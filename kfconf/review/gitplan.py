"""Which projects and environments a change between two revisions can touch.

A project's inputs all live in its folder: the spec, overlays/, its own stack files (a stack path
must stay inside the project) and the files the spec names (checked the same way). So a changed
path belongs to the deepest project folder that contains it, and only those projects are rendered.
Within a project, when the only changed files are overlays outside an environment's `extends`
chain, that environment cannot have changed and its base side is not rendered at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

OVERLAYS = "overlays"


def owner(path: str, projects: list[str]) -> str | None:
    """The deepest project folder containing PATH ('' is the repository's top folder)."""
    best: str | None = None
    for p in projects:
        if (p == "" or path == p or path.startswith(p + "/")) and (best is None or len(p) > len(best)):
            best = p
    return best


def affected(changed: Iterable[str], projects: Iterable[str]) -> dict[str, set[str]]:
    """Project folder → its changed files (paths relative to the project folder)."""
    plist = sorted(set(projects))
    out: dict[str, set[str]] = {}
    for path in changed:
        p = owner(path, plist)
        if p is not None:
            out.setdefault(p, set()).add(path[len(p) + 1:] if p else path)
    return dict(sorted(out.items()))


def overlay_envs(files: Iterable[str], project: str) -> set[str]:
    """Environments (overlays/ENV.yaml) of PROJECT among repository-relative FILES."""
    base = f"{project}/{OVERLAYS}/" if project else f"{OVERLAYS}/"
    out = set()
    for f in files:
        if f.startswith(base):
            rest = f[len(base):]
            if "/" not in rest and rest.endswith(".yaml"):
                out.add(rest.removesuffix(".yaml"))
    return out


def only_other_overlays(changed: set[str], chain: Iterable[str]) -> bool:
    """True when every changed file of a project is an overlay not in CHAIN (project-relative files
    that went into an environment): that environment renders the same at both revisions."""
    used = {PurePosixPath(c).as_posix() for c in chain}
    for c in changed:
        p = PurePosixPath(c)
        if len(p.parts) != 2 or p.parts[0] != OVERLAYS or p.suffix != ".yaml" or c in used:
            return False
    return True
