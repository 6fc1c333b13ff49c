"""Where the syncer's desired state comes from: one folder of one branch of a git repository.

A remote repository (URL) is fetched into a private bare cache; a repository on this machine is read in
place, read-only. Manifests are read straight from the commit's tree (no checkout, no work tree), so a
half-finished fetch or a concurrent publish can never show the syncer a mix of two commits.
Optionally the commit must carry a good signature by a key in a given keyring before anything is read
from it (git verify-commit with a throw-away GNUPGHOME that holds only the allowed keys).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kfconf.core.errors import Diagnostic, ExternalError, FindingsError, UsageError
from kfconf.core.source import Loc

MANIFEST_SUFFIXES = (".yaml", ".yml")
SKIP_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})


@dataclass(frozen=True, slots=True)
class Manifest:
    body: dict[str, Any]
    loc: Loc
    """The file (repository-relative) and line where the document starts."""


@dataclass(frozen=True, slots=True)
class Revision:
    url: str
    branch: str
    commit: str

    def __str__(self) -> str:
        return f"{self.branch}@sha1:{self.commit}"


def _git(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", **(env or {})}
    try:
        return subprocess.run(["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as e:
        raise ExternalError("git is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise ExternalError(f"git {args[0]} timed out after {timeout:.0f} s") from e


def normalize_url(url: str) -> str:
    """A local path becomes absolute (so the cache key is stable); anything with a scheme stays."""
    if "://" in url or (":" in url and not url.startswith(("/", ".")) and "@" in url.split(":")[0]):
        return url
    path = Path(url).expanduser().resolve()
    if not path.exists():
        raise UsageError(f"--repo {url}: no such repository")
    return str(path)


@dataclass
class GitSource:
    url: str
    branch: str
    path: str
    cache_dir: Path
    verify_keys: Path | None = None
    _last: tuple[str, list[Manifest]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.url = normalize_url(self.url)
        self.path = str(PurePosixPath(self.path.strip("/") or "."))
        if ".." in PurePosixPath(self.path).parts:
            raise UsageError(f"--path {self.path}: must stay inside the repository")

    @property
    def local(self) -> bool:
        """A repository on this machine is read in place (read-only, no locks): no clone to keep."""
        return "://" not in self.url and Path(self.url).is_dir()

    @property
    def mirror(self) -> Path:
        if self.local:
            return Path(self.url)
        return self.cache_dir / (hashlib.sha256(self.url.encode()).hexdigest()[:16] + ".git")

    def _ensure_mirror(self) -> None:
        if self.local or (self.mirror / "HEAD").exists():
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".init-", dir=self.cache_dir))
        p = _git(["init", "--bare", "-q", str(tmp)])
        if p.returncode:
            raise ExternalError(f"git init failed: {p.stderr.strip()}")
        try:
            os.rename(tmp, self.mirror)  # atomic: a concurrent syncer sharing the cache wins or we do
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)

    def fetch(self) -> Revision:
        """Fetch the branch; the commit it points at now (one `ls-remote` when it has not moved)."""
        self._ensure_mirror()
        if self.local:
            head = _git(["rev-parse", "--verify", "--quiet", f"refs/heads/{self.branch}^{{commit}}"], cwd=self.mirror)
            if head.returncode:
                raise ExternalError(f"cannot fetch branch {self.branch} of {self.url}: no such branch")
            return Revision(self.url, self.branch, head.stdout.strip())
        ref = f"refs/kfconf/{self.branch}"
        if self._last is not None:
            head = _git(["ls-remote", "--heads", self.url, f"refs/heads/{self.branch}"], cwd=self.mirror)
            sha = head.stdout.split()[0] if head.returncode == 0 and head.stdout.strip() else ""
            if sha == self._last[0]:
                return Revision(self.url, self.branch, sha)
        p = _git(["fetch", "--quiet", "--no-tags", "--force", self.url, f"+refs/heads/{self.branch}:{ref}"],
                 cwd=self.mirror)
        if p.returncode:
            msg = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"
            raise ExternalError(f"cannot fetch branch {self.branch} of {self.url}: {msg}")
        sha = _git(["rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=self.mirror).stdout.strip()
        return Revision(self.url, self.branch, sha)

    def verify(self, rev: Revision) -> None:
        """Refuse (KF606) unless the commit has a good signature by a key in `verify_keys`."""
        if self.verify_keys is None:
            return
        if shutil.which("gpg") is None:
            raise ExternalError("commit verification needs gpg, which is not installed; refusing to sync")
        keys = Path(self.verify_keys)
        if not keys.is_file():
            raise UsageError(f"--verify-key {keys}: no such file")
        home = Path(tempfile.mkdtemp(prefix="kfconf-gnupg-"))
        try:
            home.chmod(0o700)
            imp = subprocess.run(["gpg", "--batch", "--quiet", "--homedir", str(home), "--import", str(keys)],
                                 capture_output=True, text=True, timeout=60, check=False)
            if imp.returncode:
                raise UsageError(f"--verify-key {keys}: gpg cannot import it: {imp.stderr.strip()[-300:]}")
            p = _git(["-c", "gpg.program=gpg", "verify-commit", "--raw", rev.commit], cwd=self.mirror,
                     env={"GNUPGHOME": str(home)})
        finally:
            if shutil.which("gpgconf"):  # stop any agent gpg started for this throw-away home
                subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True,
                               timeout=30, check=False)
            shutil.rmtree(home, ignore_errors=True)
        if p.returncode:
            raise FindingsError([Diagnostic("KF606", f"commit {rev.commit[:12]} of {rev.branch} is not signed by an "
                                                     f"allowed key: {_why(p.stderr)}; nothing applied")])

    def manifests(self, rev: Revision) -> list[Manifest]:
        """Every YAML document under the folder at `rev` (kustomization files skipped).

        A commit never changes, so the documents of the last one are kept: a loop polling an unchanged
        branch does not parse a thousand files every round (the manager copies before it edits).
        """
        if self._last is not None and self._last[0] == rev.commit:
            return self._last[1]
        out = self._read(rev)
        self._last = (rev.commit, out)
        return out

    def _read(self, rev: Revision) -> list[Manifest]:
        spec = f"{rev.commit}^{{tree}}" if self.path == "." else f"{rev.commit}:{self.path}"
        kind = _git(["cat-file", "-t", spec], cwd=self.mirror)
        if kind.returncode:
            raise FindingsError([Diagnostic(
                "KF602", f"folder {self.path} does not exist in {rev}; nothing applied, nothing pruned")])
        if kind.stdout.strip() != "tree":
            raise FindingsError([Diagnostic("KF602", f"{self.path} is a file in {rev}, expected a folder")])
        listing = _git(["ls-tree", "-r", "-z", spec], cwd=self.mirror)
        files: list[tuple[str, str]] = []  # (blob sha, repository-relative path), in path order
        for rec in filter(None, listing.stdout.split("\0")):
            meta, _, rel = rec.partition("\t")
            mode, typ, sha = meta.split()
            name = rel.rpartition("/")[2]
            if typ == "blob" and mode != "120000" and name.endswith(MANIFEST_SUFFIXES) and name not in SKIP_FILES:
                files.append((sha, rel if self.path == "." else f"{self.path}/{rel}"))
        files.sort(key=lambda f: f[1])
        out: list[Manifest] = []
        for (_, rel), raw in zip(files, _cat_blobs(self.mirror, [sha for sha, _ in files]), strict=True):
            out.extend(parse_documents(raw, rel))
        return out


def _cat_blobs(repo: Path, shas: list[str]) -> list[bytes]:
    """Contents of many blobs from one `git cat-file --batch` (no round trip per file)."""
    if not shas:
        return []
    p = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=("\n".join(shas) + "\n").encode(),
                       capture_output=True, timeout=300, check=False)
    if p.returncode:
        raise ExternalError(f"git cat-file failed: {p.stderr.decode(errors='replace').strip()}")
    raw, pos, out = p.stdout, 0, []
    for _ in shas:
        eol = raw.index(b"\n", pos)
        size = int(raw[pos:eol].split()[2])
        out.append(raw[eol + 1: eol + 1 + size])
        pos = eol + 1 + size + 1
    return out


_WHY = (("BADSIG", "bad signature by {}"), ("NO_PUBKEY", "signed by key {}, which is not in the allowed keyring"),
        ("EXPKEYSIG", "signed by expired key {}"), ("REVKEYSIG", "signed by revoked key {}"),
        ("EXPSIG", "expired signature by {}"), ("ERRSIG", "signature cannot be checked (key {})"))


def _why(stderr: str) -> str:
    """Reason from gpg's machine-readable status lines (git verify-commit --raw)."""
    status = {ln.split()[1]: ln.split()[2:] for ln in stderr.splitlines()
              if ln.startswith("[GNUPG:] ") and len(ln.split()) > 1}
    for word, text in _WHY:
        if word in status:
            return text.format(status[word][0] if status[word] else "?")
    return "the commit is not signed" if not status else "gpg did not accept the signature"


def parse_documents(raw: bytes, file: str) -> list[Manifest]:
    """The YAML documents of one file, each with its start line; a broken file is a finding, not a crash."""
    from kfconf.spec.loader import documents

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FindingsError([Diagnostic("KF004", "file is not valid UTF-8 text", Loc(file, 1, 1))])
    out: list[Manifest] = []
    for loc, doc in documents(text, file):
        if doc is None:
            continue
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind") \
                or not isinstance(meta, dict) or not meta.get("name"):
            raise FindingsError([Diagnostic("KF006", "expected a Kubernetes object with apiVersion, kind and "
                                                     "metadata.name", loc)])
        out.append(Manifest(doc, loc))
    return out
