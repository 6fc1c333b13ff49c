"""The syncer's source: a folder of a branch, read from the commit (no work tree), optionally only
from commits signed by an allowed OpenPGP key (real gpg keys generated in the test)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfconf.core.errors import FindingsError
from kfconf.sync.source import GitSource, parse_documents


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    p = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd,
                       capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    assert p.returncode == 0, p.stderr
    return p.stdout


def commit_files(repo: Path, files: dict[str, str], message: str = "c", *, sign: str | None = None,
                 env: dict[str, str] | None = None) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git("add", "-A", cwd=repo)
    args = ["-c", "gpg.program=gpg", "-c", f"user.signingkey={sign}", "commit", "-q", f"-S{sign}"] if sign \
        else ["commit", "-q"]
    git(*args, "-m", message, cwd=repo, env=env)
    return git("rev-parse", "HEAD", cwd=repo).strip()


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: team\ndata: {{v: '1'}}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "gitops"
    r.mkdir()
    git("init", "-q", "--initial-branch=main", cwd=r)
    return r


def test_reads_every_document_of_the_folder_at_the_commit(repo: Path, tmp_path: Path) -> None:
    sha = commit_files(repo, {
        "envs/prod/team/configmap.a.yaml": CM.format(name="a"),
        "envs/prod/team/two.yaml": CM.format(name="b") + "---\n" + CM.format(name="c") + "---\n",
        "envs/prod/kustomization.yaml": "resources: [team/configmap.a.yaml]\n",
        "envs/prod/README.md": "not yaml\n",
        "envs/dev/team/configmap.z.yaml": CM.format(name="z"),
    })
    src = GitSource(str(repo), "main", "envs/prod", tmp_path / "cache")
    rev = src.fetch()
    assert rev.commit == sha and str(rev) == f"main@sha1:{sha}"
    commit_files(repo, {"envs/prod/team/configmap.late.yaml": CM.format(name="late")})  # after the fetch
    got = src.manifests(rev)
    assert [m.body["metadata"]["name"] for m in got] == ["a", "b", "c"]
    assert [(m.loc.file, m.loc.line) for m in got] == [
        ("envs/prod/team/configmap.a.yaml", 1), ("envs/prod/team/two.yaml", 1), ("envs/prod/team/two.yaml", 8)]
    assert len(src.manifests(src.fetch())) == 4


def test_a_missing_folder_or_branch_is_an_error_not_an_empty_source(repo: Path, tmp_path: Path) -> None:
    commit_files(repo, {"envs/prod/team/configmap.a.yaml": CM.format(name="a")})
    src = GitSource(str(repo), "main", "envs/prdo", tmp_path / "cache")
    with pytest.raises(FindingsError, match="does not exist") as e:
        src.manifests(src.fetch())
    assert e.value.diagnostics[0].code == "KF602"
    from kfconf.core.errors import ExternalError

    with pytest.raises(ExternalError, match="cannot fetch branch nope"):
        GitSource(str(repo), "nope", ".", tmp_path / "cache").fetch()


def test_broken_documents_are_findings_with_a_location() -> None:
    with pytest.raises(FindingsError) as e:
        parse_documents(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n", "x.yaml")
    assert e.value.diagnostics[0].code == "KF001" and e.value.diagnostics[0].loc.file == "x.yaml"
    with pytest.raises(FindingsError) as e:
        parse_documents(b"---\nkind: ConfigMap\n", "y.yaml")
    assert e.value.diagnostics[0].code == "KF006" and e.value.diagnostics[0].loc.line == 2


# --- signatures ------------------------------------------------------------------------------------------------

needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


@pytest.fixture
def gnupg() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="kfg"))  # short: gpg-agent's socket path has a length limit
    home.chmod(0o700)
    yield home
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


def new_key(home: Path, uid: str) -> str:
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
                    "--quick-gen-key", uid, "ed25519", "sign", "never"], check=True, capture_output=True)
    out = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--with-colons", "--list-keys", uid],
                         check=True, capture_output=True, text=True).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def export(home: Path, fpr: str, to: Path) -> Path:
    to.write_bytes(subprocess.run(["gpg", "--homedir", str(home), "--batch", "--armor", "--export", fpr],
                                  check=True, capture_output=True).stdout)
    return to


@needs_gpg
def test_only_commits_signed_by_an_allowed_key_are_accepted(repo: Path, tmp_path: Path, gnupg: Path) -> None:
    allowed = new_key(gnupg, "Release Bot <bot@example.com>")
    stranger = new_key(gnupg, "Mallory <mallory@example.com>")
    keyring = export(gnupg, allowed, tmp_path / "allowed.asc")
    env = {"GNUPGHOME": str(gnupg)}
    src = GitSource(str(repo), "main", ".", tmp_path / "cache", verify_keys=keyring)

    commit_files(repo, {"team/configmap.a.yaml": CM.format(name="a")}, sign=allowed, env=env)
    src.verify(src.fetch())  # good signature by the allowed key: no exception

    commit_files(repo, {"team/configmap.b.yaml": CM.format(name="b")}, sign=stranger, env=env)
    with pytest.raises(FindingsError) as e:
        src.verify(src.fetch())
    assert e.value.diagnostics[0].code == "KF606" and "not in the allowed keyring" in e.value.diagnostics[0].message

    commit_files(repo, {"team/configmap.c.yaml": CM.format(name="c")})
    with pytest.raises(FindingsError) as e:
        src.verify(src.fetch())
    assert e.value.diagnostics[0].code == "KF606" and "not signed" in e.value.diagnostics[0].message


def test_a_remote_url_is_fetched_into_a_private_cache(repo: Path, tmp_path: Path) -> None:
    first = commit_files(repo, {"team/configmap.a.yaml": CM.format(name="a")})
    src = GitSource(f"file://{repo}", "main", ".", tmp_path / "cache")
    assert not src.local and src.mirror.parent == tmp_path / "cache"
    rev = src.fetch()
    assert rev.commit == first and [m.body["metadata"]["name"] for m in src.manifests(rev)] == ["a"]
    assert src.fetch() == rev  # unchanged: answered by ls-remote, the documents kept
    second = commit_files(repo, {"team/configmap.b.yaml": CM.format(name="b")})
    rev2 = src.fetch()
    assert rev2.commit == second and len(src.manifests(rev2)) == 2
    in_place = GitSource(str(repo), "main", ".", tmp_path / "unused")  # a path is read in place, no clone
    assert in_place.local and in_place.fetch().commit == second and len(in_place.manifests(rev2)) == 2
    assert not (tmp_path / "unused").exists()
