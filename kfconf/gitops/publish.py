"""Publish a rendered tree into a folder of a GitOps repository, atomically and race-safely.

The commit is built entirely in the object database (kfconf.gitops.trees: blobs, trees, then
`git commit-tree`); the branch then moves with a compare-and-swap — `git update-ref REF NEW OLD`
for a local repository, a fast-forward-only `git push` for a remote one. So the branch moves to a
complete commit or not at all: a publisher killed at any point leaves the repository as it was (plus
unreferenced objects for git gc), and never touches anybody's work tree or index.

When the branch moved under us (another publisher won the race), we read the new head, put our
folder on top of it again and retry with backoff: the other publisher's commit stays, ours follows
it, nothing is lost. A commit is made only when the folder's tree actually changes. The backoff stays
short (at most a second) and the budget large: a pushing publisher's fetch-build-push window is several
times a local one's, so among busy local publishers it loses many races in a row before a lull lets it
through (10 publishers x 20 rounds, RELIABILITY.md: with the former budget of 12 attempts and a 2 s cap,
pushes needed up to 12 — all of it — while local publishers needed at most 6).

A git process killed while it holds a ref lock (`HEAD.lock`, `refs/heads/BRANCH.lock`: held for
milliseconds while the branch moves) leaves the lock behind, and git refuses every later update until
somebody removes it by hand. A lock in a repository on this machine that is older than STALE_LOCK_S
is such a leftover: publish moves it aside (checking it is still the same file) and goes on.

    local  (default):  --repo is a repository on disk; the commit lands on its branch directly.
    remote (--push):   --repo is a URL or path; we work in a private bare cache and push to it.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from kfconf.core.errors import ExternalError, UsageError
from kfconf.gitops import trees

if TYPE_CHECKING:
    import git

ZERO = "0" * 40
FAULT_ENV = "KFCONF_PUBLISH_FAULT"
STALE_LOCK_S = 10.0
_LOCK = re.compile(r"Unable to create '([^']+\.lock)': File exists")
_KIND = re.compile(r"^kind:\s*(\S+)\s*$", re.MULTILINE)
_CREDS = re.compile(r"(?<=://)[^/@]+@")


# ------------------------------------------------------------------------------------------------------------
# what is published, and from where

@dataclass(frozen=True)
class SourceInfo:
    """The project's own repository, named in the commit message."""

    repo: str
    commit: str | None
    dirty: bool
    project: str
    env: str | None
    stack: str

    @property
    def revision(self) -> str:
        if self.commit is None:
            return "an uncommitted work tree (not a git repository)"
        return self.commit[:12] + ("-dirty" if self.dirty else "")


def source_info(project_dir: Path, project: str, env: str | None, stack: str) -> SourceInfo:
    """HEAD of the repository holding `project_dir`, and whether the project's files differ from it.

    Read-only: `git status` runs with GIT_OPTIONAL_LOCKS=0, so it never rewrites the user's index.
    """
    import git

    try:
        repo = git.Repo(project_dir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return SourceInfo(str(project_dir), None, True, project, env, stack)
    with repo:
        try:
            commit: str | None = repo.head.commit.hexsha
        except ValueError:  # no commit yet
            commit = None
        rel = os.path.relpath(Path(project_dir).resolve(), Path(repo.working_tree_dir or ".").resolve())
        status = repo.git.execute(["git", "status", "--porcelain", "--untracked-files=normal", "--", rel],
                                  env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
        name = str(repo.working_tree_dir)
        if "origin" in [r.name for r in repo.remotes]:
            name = _CREDS.sub("", next(iter(repo.remotes.origin.urls), name))
    return SourceInfo(name, commit, bool(str(status).strip()) or commit is None, project, env, stack)


@dataclass
class Changes:
    added: list[tuple[str, str]] = field(default_factory=list)
    """(kind, file) pairs."""
    changed: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    @staticmethod
    def by_kind(pairs: list[tuple[str, str]]) -> str:
        counts = Counter(k for k, _ in pairs)
        return ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))

    def short(self) -> str:
        return f"+{len(self.added)} ~{len(self.changed)} -{len(self.removed)}"

    def lines(self) -> list[str]:
        out = []
        for label, pairs in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            if pairs:
                out.append(f"{label}: {len(pairs)} ({self.by_kind(pairs)})")
        return out


def commit_message(source: SourceInfo, path: str, changes: Changes, title: str | None) -> str:
    where = f"{source.project}/{source.env or 'base'}"
    head = title or f"kfconf: publish {where} from {source.revision} ({changes.short()})"
    body = [
        f"Source: {source.repo} at {source.commit or 'no commit'}" + (" (with uncommitted changes)"
                                                                       if source.dirty and source.commit else ""),
        f"Project: {source.project}, environment: {source.env or 'base'}, stack: {source.stack}, folder: {path}",
        "",
        *changes.lines(),
        "",
        f"Kfconf-Source-Commit: {source.commit or 'none'}",
        f"Kfconf-Source-Dirty: {'true' if source.dirty else 'false'}",
    ]
    return head + "\n\n" + "\n".join(body) + "\n"


# ------------------------------------------------------------------------------------------------------------
# the publish

@dataclass
class PublishResult:
    commit: str | None
    """The new commit, or None when the folder was already up to date."""
    branch: str
    path: str
    changes: Changes
    attempts: int
    base: str | None


def _fault(point: str) -> None:
    """Fault injection for the crash tests: KFCONF_PUBLISH_FAULT=<point> kills this process right here."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _is_url(repo: str) -> bool:
    return "://" in repo or bool(re.match(r"^[\w.-]+@[\w.-]+:", repo))


def _git_env(repo: git.Repo) -> dict[str, str]:
    """Identity for commit-tree: the user's git config if set, else kfconf (a CI runner often has none)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    reader = repo.config_reader()
    for role in ("AUTHOR", "COMMITTER"):
        if not env.get(f"GIT_{role}_NAME") and not reader.get_value("user", "name", ""):
            env[f"GIT_{role}_NAME"] = "kfconf"
        if not env.get(f"GIT_{role}_EMAIL") and not reader.get_value("user", "email", ""):
            env[f"GIT_{role}_EMAIL"] = "kfconf@localhost"
    return env


def publish(files: Mapping[str, str], *, repo: str, path: str, branch: str, source: SourceInfo,
            title: str | None = None, push: bool = False, retries: int = 60,
            cache_dir: Path | None = None) -> PublishResult:
    path = str(PurePosixPath(path.strip("/") or "."))
    if ".." in PurePosixPath(path).parts:
        raise UsageError(f"--path {path}: must stay inside the repository")
    if not re.match(r"^[\w./-]+$", branch) or branch.startswith(("-", "/")) or ".." in branch:
        raise UsageError(f"--branch {branch!r}: not a valid branch name")
    if push:
        return _publish_remote(files, repo, path, branch, source, title, retries, cache_dir or _default_cache())
    if _is_url(repo):
        raise UsageError(f"--repo {repo} is a URL: pass --push to publish to a remote repository")
    return _publish_local(files, Path(repo), path, branch, source, title, retries)


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kfconf" / "publish"


def _open(repo_path: Path) -> git.Repo:
    import git

    try:
        return git.Repo(repo_path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"--repo {repo_path}: not a git repository")


def _checked_out(repo: git.Repo, branch: str) -> bool:
    """Is `branch` checked out in any work tree of `repo`? Moving it would desync that work tree."""
    return f"branch refs/heads/{branch}" in str(repo.git.worktree("list", "--porcelain")).splitlines()


def _prepare(repo: git.Repo, files: Mapping[str, str], base: str | None, path: str, source: SourceInfo,
             title: str | None) -> tuple[str | None, Changes]:
    """The commit putting `files` at `path` on top of `base` (None: no change needed), and the changes."""
    base_tree = repo.commit(base).tree.binsha if base else None
    total = len(files)
    new_sub = trees.build_tree(repo, files, on_blob=lambda n: _fault("blobs") if n == total // 2 else None)
    root = trees.replace_subtree(repo, base_tree, path, new_sub)
    _fault("tree")
    if base_tree is not None and root == base_tree:
        return None, Changes()
    changes = diff_folder(repo, trees.subtree(repo, base_tree, path), new_sub, files)
    if base_tree is None and new_sub is None:
        return None, changes
    message = commit_message(source, path, changes, title)
    args = ["git", "commit-tree", root.hex(), "-F", "-"]
    if base:
        args[3:3] = ["-p", base]
    proc = subprocess.run(args, cwd=repo.git_dir, input=message, capture_output=True, text=True,
                          env=_git_env(repo), check=False)
    if proc.returncode:
        raise ExternalError(f"git commit-tree failed: {proc.stderr.strip()}")
    _fault("commit")
    return proc.stdout.strip(), changes


def diff_folder(repo: git.Repo, old: bytes | None, new: bytes | None,
                contents: Mapping[str, str] | None = None) -> Changes:
    """Files added, changed and removed between two folder trees, each with the kind it holds."""
    before = dict(trees.files_of(repo, old))
    after = dict(trees.files_of(repo, new))
    ch = Changes()

    def kind(sha: bytes, rel: str) -> str:
        text = contents[rel] if contents is not None and rel in contents and sha == after.get(rel) \
            else trees.blob_text(repo, sha)
        m = _KIND.search(text)
        return m.group(1) if m else PurePosixPath(rel).suffix or "file"

    for rel in sorted(after.keys() | before.keys()):
        if rel == "kustomization.yaml":
            continue  # follows the resources; not a change of its own
        if rel not in before:
            ch.added.append((kind(after[rel], rel), rel))
        elif rel not in after:
            ch.removed.append((kind(before[rel], rel), rel))
        elif before[rel] != after[rel]:
            ch.changed.append((kind(after[rel], rel), rel))
    return ch


def _backoff(attempt: int) -> None:
    time.sleep(min(1.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.5))


def _clear_stale_lock(message: str, root: Path) -> bool:
    """Remove the lock file git's `message` names if it lies in `root` and is older than STALE_LOCK_S (a git
    process died holding it). It is first renamed aside, atomically: if what was renamed is not the stale file
    we looked at (another publisher cleared it and a live git took the name meanwhile), it is put back."""
    m = _LOCK.search(message)
    if m is None:
        return False
    lock = Path(root, m.group(1))  # git names it absolute, or relative to the repository it works in
    try:
        lock = lock.parent.resolve() / lock.name
        if not lock.is_relative_to(root.resolve()):
            return False
        seen = lock.stat()
        if time.time() - seen.st_mtime < STALE_LOCK_S:
            return False
        aside = lock.with_name(f"{lock.name}.stale-{uuid.uuid4().hex}")
        os.rename(lock, aside)
        if os.stat(aside).st_ino != seen.st_ino:
            os.link(aside, lock)
            os.unlink(aside)
            return False
        os.unlink(aside)
    except OSError:
        return False
    print(f"kfconf publish: warning: removed {lock}, left by a git process that died holding it "
          f"{time.time() - seen.st_mtime:.0f} s ago", file=sys.stderr)
    return True


def _publish_local(files: Mapping[str, str], repo_path: Path, path: str, branch: str, source: SourceInfo,
                   title: str | None, retries: int) -> PublishResult:
    import git

    repo = _open(repo_path)
    ref = f"refs/heads/{branch}"
    with repo:
        if _checked_out(repo, branch):
            raise UsageError(f"branch {branch} is checked out in a work tree of {repo_path}: publishing would leave "
                             "that work tree behind; publish to a bare repository, another branch, or use --push")
        for attempt in range(1, retries + 1):
            base = _resolve(repo, ref)
            commit, changes = _prepare(repo, files, base, path, source, title)
            if commit is None:
                return PublishResult(None, branch, path, changes, attempt, base)
            try:
                # compare-and-swap: fails unless the branch still points at `base` (or still does not exist)
                repo.git.update_ref("-m", f"kfconf publish {path}", ref, commit, base or ZERO)
            except git.GitCommandError as e:
                if attempt < retries and _is_race(str(e.stderr)):
                    _clear_stale_lock(str(e.stderr), Path(repo.git_dir))
                    _backoff(attempt)
                    continue
                raise ExternalError(f"cannot move {branch} of {repo_path}: {str(e.stderr).strip()}")
            return PublishResult(commit, branch, path, changes, attempt, base)
    raise ExternalError(f"{branch} of {repo_path} kept moving: gave up after {retries} attempts")


def _resolve(repo: git.Repo, ref: str) -> str | None:
    import git

    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")).strip() or None
    except git.GitCommandError:
        return None


def _is_race(stderr: str) -> bool:
    """update-ref's compare-and-swap lost: the ref moved, appeared, or another writer holds its lock."""
    return "cannot lock ref" in stderr.lower()


def _mirror(url: str, cache_dir: Path) -> Path:
    mirror = cache_dir / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".git")
    if (mirror / "HEAD").exists():
        return mirror
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".init-", dir=cache_dir))
    p = subprocess.run(["git", "init", "--bare", "-q", str(tmp)], capture_output=True, text=True, check=False)
    if p.returncode:
        raise ExternalError(f"git init failed: {p.stderr.strip()}")
    try:
        os.rename(tmp, mirror)  # atomic; a concurrent publisher may have won, then we use theirs
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return mirror


def _git(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=600,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})})


def _publish_remote(files: Mapping[str, str], remote: str, path: str, branch: str, source: SourceInfo,
                    title: str | None, retries: int, cache_dir: Path) -> PublishResult:
    url = remote if _is_url(remote) else str(Path(remote).expanduser().resolve())
    mirror = _mirror(url, cache_dir)
    repo = _open(mirror)
    # a fetch ref of our own: publishers sharing the cache never fight over a ref lock
    tmp_ref = f"refs/kfconf/publish/{uuid.uuid4().hex}"
    with repo:
        try:
            for attempt in range(1, retries + 1):
                f = _git(["fetch", "--quiet", "--no-tags", url, f"+refs/heads/{branch}:{tmp_ref}"], mirror)
                if f.returncode and "couldn't find remote ref" not in f.stderr.lower():
                    raise ExternalError(f"cannot fetch {branch} from {_CREDS.sub('', url)}: {f.stderr.strip()}")
                base = _resolve(repo, tmp_ref) if f.returncode == 0 else None
                commit, changes = _prepare(repo, files, base, path, source, title)
                if commit is None:
                    return PublishResult(None, branch, path, changes, attempt, base)
                p = _git(["push", "--porcelain", "--quiet", url, f"{commit}:refs/heads/{branch}"], mirror)
                if p.returncode == 0:
                    return PublishResult(commit, branch, path, changes, attempt, base)
                out = (p.stdout + p.stderr).lower()
                if attempt < retries and any(t in out for t in ("non-fast-forward", "fetch first", "rejected",
                                                                "cannot lock ref", "stale info")):
                    if not _is_url(remote):  # a repository on this machine: its leftover locks are ours to clear
                        _clear_stale_lock(p.stdout + p.stderr, Path(url))
                    _backoff(attempt)
                    continue
                raise ExternalError(f"cannot push {branch} to {_CREDS.sub('', url)}: {p.stderr.strip() or p.stdout}")
        finally:
            _git(["update-ref", "-d", tmp_ref], mirror)
    raise ExternalError(f"{branch} of {_CREDS.sub('', url)} kept moving: gave up after {retries} attempts")


def summary_line(result: PublishResult, repo: str) -> str:
    where = f"{_CREDS.sub('', repo)} {result.branch}:{result.path}"
    if result.commit is None:
        return f"nothing to publish: {where} is up to date"
    return f"published {result.commit[:12]} to {where} ({result.changes.short()})"
