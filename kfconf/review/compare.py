"""`kfconf diff` as a library call: render the affected projects at two revisions and compare them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.core.errors import FindingsError, KfconfError
from kfconf.core.resource import Resource
from kfconf.gitops.gitsource import GitSource, Revision, skipped
from kfconf.review.diff import ResourceChange, diff_resources
from kfconf.review.gitplan import affected, only_other_overlays, overlay_envs
from kfconf.review.impact import Impact, impact


@dataclass
class Section:
    """One project in one environment."""

    path: str
    """The project folder, relative to the repository's top folder ('' for the top folder itself)."""
    project: str
    env: str | None
    changes: list[ResourceChange] = field(default_factory=list)
    impact: Impact = field(default_factory=Impact)
    errors: list[str] = field(default_factory=list)
    note: str = ""
    """'new project', 'project removed', 'new environment', 'environment removed', or ''."""
    skipped_base: bool = False
    """True when no input of this environment changed, so its base side was not rendered."""

    @property
    def env_name(self) -> str:
        return self.env or "base"

    @property
    def title(self) -> str:
        where = self.path or "."
        return f"{self.project} · {self.env_name} ({where})"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path or ".", "project": self.project, "environment": self.env_name,
                "note": self.note or None, "errors": self.errors, "impact": self.impact.to_json(),
                "changes": [c.to_json() for c in self.changes]}


@dataclass
class DiffReport:
    base: Revision
    head: Revision
    sections: list[Section]
    projects: int
    """Projects found under PATH at either revision."""
    affected: list[str]
    """Project folders whose inputs changed; only these were rendered."""

    @property
    def changed(self) -> list[Section]:
        return [s for s in self.sections if s.changes]

    @property
    def failed(self) -> list[Section]:
        return [s for s in self.sections if s.errors]

    @property
    def impact(self) -> Impact:
        total = Impact()
        for s in self.sections:
            total.merge(s.impact)
        return total

    def exit_code(self) -> int:
        return 2 if self.failed else 1 if self.changed else 0

    def to_json(self) -> dict[str, Any]:
        return {"base": {"rev": self.base.name, "commit": self.base.sha},
                "head": {"rev": self.head.name, "commit": self.head.sha},
                "projects": self.projects, "affected": [a or "." for a in self.affected],
                "changed": bool(self.changed), "impact": self.impact.to_json(),
                "sections": [s.to_json() for s in self.sections if s.changes or s.errors]}


@dataclass
class _Side:
    rev: Revision
    root: Path
    """Where this revision's project folders are on disk (a scratch copy, or the work tree)."""
    projects: set[str]
    files: list[str]

    def envs(self, project: str) -> set[str]:
        return overlay_envs(self.files, project)

    def has(self, project: str, env: str | None) -> bool:
        return project in self.projects and (env is None or env in self.envs(project))


@dataclass
class _Built:
    resources: list[Resource] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    """The inputs of this build, relative to the project folder."""
    name: str | None = None
    errors: list[str] = field(default_factory=list)


def _build(side: _Side, project: str, env: str | None, stack: str | None, label: str) -> _Built:
    from kfconf.build import build_project

    folder = side.root / project if project else side.root
    try:
        # Validity of the output is `kfconf check`'s and `kfconf build`'s business; the diff compares intent.
        result = build_project(folder, env, stack, cwd=side.root, check=False)
    except FindingsError as e:
        return _Built(errors=[f"{label}: {d.render()}" for d in e.diagnostics])
    except KfconfError as e:
        return _Built(errors=[f"{label}: {e}"])
    chain = []
    for p in result.inputs:
        try:
            chain.append(Path(p).resolve().relative_to(folder.resolve()).as_posix())
        except ValueError:
            chain.append(str(p))
    return _Built(result.resources, chain, result.project.name)


def _section(base: _Side, head: _Side, project: str, env: str | None, changed: set[str],
             stack: str | None) -> Section:
    in_base, in_head = base.has(project, env), head.has(project, env)
    note = ""
    if not in_base:
        note = "new project" if project not in base.projects else "new environment"
    elif not in_head:
        note = "project removed" if project not in head.projects else "environment removed"
    h = _build(head, project, env, stack, f"head {head.rev.short}") if in_head else _Built()
    skipped = False
    if h.errors:
        b = _Built()
    elif in_base and in_head and only_other_overlays(changed, h.chain):
        b, skipped = h, True  # nothing this environment reads changed: the base renders the same
    else:
        b = _build(base, project, env, stack, f"base {base.rev.short}") if in_base else _Built()
    name = h.name or b.name or (project.rsplit("/", 1)[-1] if project else ".")
    section = Section(project, name, env, note=note, errors=[*h.errors, *b.errors], skipped_base=skipped)
    if not section.errors:
        section.changes = diff_resources(b.resources, h.resources)
        section.impact = impact(b.resources, h.resources, section.changes)
    return section


def compare(path: Path, base: str, head: str | None = None, envs: list[str | None] | None = None,
            merge_base: bool = False, stack: str | None = None) -> DiffReport:
    """Render what changed between BASE and HEAD (default: the work tree) under PATH, and compare."""
    src = GitSource(path)
    try:
        head_rev = src.revision(head, "head") if head else Revision("work tree", None)
        base_rev = src.revision(base, "base")
        if merge_base:
            base_rev = src.merge_base(base_rev, head_rev)
        changed = {c for c in src.changed_paths(base_rev, head_rev) if not skipped(c)}
        base_files = src.files(base_rev)
        head_files = src.files(head_rev)
        base_projects, head_projects = set(src.projects(base_files)), set(src.projects(head_files))
        touched = affected(changed, base_projects | head_projects)
        with tempfile.TemporaryDirectory(prefix="kfconf-diff-") as tmp:
            scratch = Path(tmp)
            src.materialize(base_rev, [p for p in touched if p in base_projects], scratch / "base")
            if head_rev.sha is not None:
                src.materialize(head_rev, [p for p in touched if p in head_projects], scratch / "head")
                head_root = scratch / "head"
            else:
                head_root = src.root
            b = _Side(base_rev, scratch / "base", base_projects, base_files)
            h = _Side(head_rev, head_root, head_projects, head_files)
            sections = []
            for project, files in touched.items():
                wanted = envs if envs is not None else [None, *sorted(b.envs(project) | h.envs(project))]
                for env in wanted:
                    if not (b.has(project, env) or h.has(project, env)):
                        continue  # -e ENV names an environment this project does not have
                    sections.append(_section(b, h, project, env, files, stack))
        return DiffReport(base_rev, head_rev, sections, len(base_projects | head_projects), list(touched))
    finally:
        src.close()
