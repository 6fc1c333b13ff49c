"""Read project trees at a git revision without touching the user's work tree or index.

Blobs are read from the commit's tree through gitpython's object database (one `git cat-file
--batch` process) and written to a scratch folder that mirrors the repository layout, so file
names in messages stay repository-relative. No checkout, no `git status` (which may rewrite the
index), no `git archive` (which honours export-ignore and would silently drop files). Every git
command runs with GIT_OPTIONAL_LOCKS=0 so that even read commands never take the index lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kfconf.core.errors import ExternalError, UsageError

SPEC_FILE = "ml-project.yaml"
SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".kfconf", ".tox"})
_SYMLINK = 0o120000
_SUBMODULE = 0o160000
FETCH_HINT = ("fetch it first, e.g. `git fetch origin <branch>`; in GitHub Actions check out with "
              "`fetch-depth: 0` (actions/checkout) so the base revision is in the clone")


@dataclass(frozen=True)
class Revision:
    """A resolved commit, or the work tree when `sha` is None."""

    name: str
    sha: str | None

    @property
    def short(self) -> str:
        return self.sha[:12] if self.sha else "work tree"


def skipped(rel: str) -> bool:
    """In a folder a project search never enters (the same rule as `kfconf validate`'s walk): such a file
    is never a project's input (tool folders, kfconf's own .kfconf cache, hidden folders)."""
    return any(part in SKIP_DIRS or part.startswith(".") for part in rel.split("/")[:-1])


class GitSource:
    """The git repository that contains `path`; `prefix` is `path` relative to its top folder."""

    def __init__(self, path: Path) -> None:
        try:
            import git
        except ImportError as e:  # pragma: no cover - gitpython is a hard dependency
            raise ExternalError(f"gitpython is not installed: {e}")
        try:
            self.repo = git.Repo(path, search_parent_directories=True)
        except git.NoSuchPathError:
            raise UsageError(f"{path}: no such file or folder")
        except git.InvalidGitRepositoryError:
            raise UsageError(f"{path}: not inside a git repository (kfconf diff compares git revisions)")
        except git.GitCommandNotFound as e:  # pragma: no cover - depends on the machine
            raise ExternalError(f"git is not installed: {e}")
        if self.repo.working_tree_dir is None:
            raise UsageError(f"{path}: a bare repository has no work tree to compare")
        self.repo.git.update_environment(GIT_OPTIONAL_LOCKS="0")
        self.root = Path(self.repo.working_tree_dir).resolve()
        target = path.resolve()
        if target.is_file():
            target = target.parent
        if not target.is_relative_to(self.root):
            raise UsageError(f"{path}: outside the work tree of the repository at {self.root}")
        rel = target.relative_to(self.root).as_posix()
        self.prefix = "" if rel == "." else rel

    def close(self) -> None:
        self.repo.close()

    def _git(self, *args: str) -> str:
        import git

        try:
            return str(self.repo.git.execute(["git", *args], strip_newline_in_stdout=False))
        except git.GitCommandError as e:
            detail = (e.stderr or "").strip().removeprefix("stderr: ").strip("'\n ")
            raise ExternalError(f"git {args[0]} failed: {detail or e}")

    def is_shallow(self) -> bool:
        return self._git("rev-parse", "--is-shallow-repository").strip() == "true"

    def revision(self, rev: str, role: str) -> Revision:
        """Resolve REV to a commit; a missing one (a shallow CI clone) is a clear exit-2 error."""
        import git

        try:
            sha = self.repo.git.execute(["git", "rev-parse", "--verify", "--quiet", "--end-of-options",
                                         f"{rev}^{{commit}}"])
        except git.GitCommandError:
            shallow = " (this is a shallow clone)" if self.is_shallow() else ""
            raise ExternalError(f"{role} revision {rev!r} is not in this clone{shallow}; {FETCH_HINT}")
        return Revision(rev, str(sha).strip())

    def merge_base(self, base: Revision, head: Revision) -> Revision:
        import git

        try:
            sha = self.repo.git.execute(["git", "merge-base", str(base.sha), str(head.sha or "HEAD")])
        except git.GitCommandError:
            shallow = " (this is a shallow clone)" if self.is_shallow() else ""
            raise ExternalError(f"no common ancestor of {base.name!r} and {head.name!r} in this clone{shallow}; "
                                f"{FETCH_HINT}")
        return Revision(f"merge-base({base.name}, {head.name})", str(sha).strip())

    def changed_paths(self, base: Revision, head: Revision) -> set[str]:
        """Repository-relative paths that differ between BASE and HEAD (or the work tree)."""
        if head.sha is not None:
            out = self._git("diff-tree", "-r", "--no-renames", "--name-only", "-z", str(base.sha), head.sha)
            return {p for p in out.split("\0") if p}
        # The work tree: diff-index compares with the index's stat data without refreshing (and so without
        # writing) the index; a file only touched shows up as changed, which costs a render, never a miss.
        tracked = self._git("diff-index", "--no-renames", "--name-only", "-z", str(base.sha), "--")
        untracked = self._git("ls-files", "--others", "--exclude-standard", "-z")
        return {p for p in (*tracked.split("\0"), *untracked.split("\0")) if p}

    def files(self, rev: Revision, prefix: str | None = None) -> list[str]:
        """Every file at REV under PREFIX (work tree: tracked and untracked-but-not-ignored files on disk)."""
        scope = prefix if prefix is not None else self.prefix
        spec = ["--", scope] if scope else []
        if rev.sha is not None:
            out = self._git("ls-tree", "-r", "--name-only", "-z", rev.sha, *spec)
            return sorted(p for p in out.split("\0") if p)
        out = self._git("ls-files", "--cached", "--others", "--exclude-standard", "-z", *spec)
        return sorted(p for p in set(out.split("\0")) if p and (self.root / p).is_file())

    def projects(self, files: Iterable[str]) -> list[str]:
        """Repository-relative folders that hold an ml-project.yaml ('' for the top folder)."""
        out = []
        tail = "/" + SPEC_FILE
        for f in files:
            if (f == SPEC_FILE or f.endswith(tail)) and not skipped(f):
                out.append(f[: -len(tail)] if f != SPEC_FILE else "")
        return sorted(out)

    def materialize(self, rev: Revision, folders: Iterable[str], dest: Path) -> None:
        """Write the files of FOLDERS at REV below DEST, mirroring the repository layout."""
        import git

        if rev.sha is None:
            raise ValueError("the work tree needs no materializing")
        tree = self.repo.commit(rev.sha).tree
        dest_root = dest.resolve()
        for folder in folders:
            try:
                sub = tree / folder if folder else tree
            except KeyError:
                continue  # the project does not exist at this revision
            for item in sub.traverse():
                if not isinstance(item, git.Blob):
                    continue  # trees are created on demand; submodules are not part of a project
                if item.mode == _SUBMODULE:
                    continue
                target = dest_root / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                data = item.data_stream.read()
                if item.mode == _SYMLINK:
                    link = os.fsdecode(data)
                    # a link stays a link only while it points inside the scratch copy
                    if (target.parent / link).resolve().is_relative_to(dest_root):
                        target.symlink_to(link)
                    continue
                target.write_bytes(data)
                if item.mode & 0o111:
                    target.chmod(0o755)
