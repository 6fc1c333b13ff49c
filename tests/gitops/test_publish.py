"""Publishing into a GitOps repository: commits only on change, removes gone files, names the source,
loses nothing to a concurrent publisher, and is never left half-written by a killed one.

Every test uses real git repositories in a temp folder; nothing is mocked.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kfconf.core.errors import ExternalError, UsageError
from kfconf.gitops.publish import FAULT_ENV, SourceInfo, publish, source_info

REPO = Path(__file__).resolve().parents[2]
SOURCE = SourceInfo("https://example.com/acme/churn.git", "c0ffee" + "0" * 34, False, "churn", "prod",
                    "kubeflow-latest")


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and p.returncode:
        raise AssertionError(f"git {' '.join(args)}: {p.stderr}")
    return p.stdout


def bare(tmp_path: Path, name: str = "gitops.git") -> Path:
    path = tmp_path / name
    git("init", "-q", "--bare", "--initial-branch=main", str(path))
    return path


def tree(repo: Path, ref: str = "main") -> dict[str, str]:
    """path → content of every file on `ref` (one `git cat-file --batch` for all blobs)."""
    entries = [line.split("\t", 1) for line in git("--git-dir", str(repo), "ls-tree", "-r", ref).splitlines()]
    shas = [meta.split()[2] for meta, _ in entries]
    raw = subprocess.run(["git", "--git-dir", str(repo), "cat-file", "--batch"],
                         input=("\n".join(shas) + "\n").encode(), capture_output=True, check=True).stdout
    out: dict[str, str] = {}
    pos = 0
    for _, name in entries:
        header_end = raw.index(b"\n", pos)
        size = int(raw[pos:header_end].split()[2])
        out[name] = raw[header_end + 1: header_end + 1 + size].decode()
        pos = header_end + 1 + size + 1
    return out


def head(repo: Path, ref: str = "main") -> str | None:
    p = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "--verify", "-q", ref], capture_output=True,
                       text=True, check=False)
    return p.stdout.strip() or None


def cm(name: str, value: str = "1", ns: str = "team") -> tuple[str, str]:
    return (f"{ns}/configmap.{name}.yaml",
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  v: '{value}'\n")


def files(*pairs: tuple[str, str]) -> dict[str, str]:
    out = dict(pairs)
    out["kustomization.yaml"] = "resources:\n" + "".join(f"- {p}\n" for p in sorted(out))
    return out


# --------------------------------------------------------------------------------------------------------------


def test_first_publish_writes_the_folder_and_names_the_source(tmp_path: Path) -> None:
    repo = bare(tmp_path)
    tj = ("team/trainjob.t.yaml", "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata:\n  name: t\n")
    want = files(cm("a"), cm("b"), tj)
    r = publish(want, repo=str(repo), path="envs/prod", branch="main", source=SOURCE)
    assert r.commit is not None and head(repo) == r.commit
    assert tree(repo) == {f"envs/prod/{k}": v for k, v in want.items()}
    msg = git("--git-dir", str(repo), "log", "-1", "--format=%B", "main")
    assert SOURCE.commit is not None
    assert SOURCE.commit[:12] in msg.splitlines()[0]
    assert f"Kfconf-Source-Commit: {SOURCE.commit}" in msg
    assert "Kfconf-Source-Dirty: false" in msg
    assert "added: 3 (ConfigMap 2, TrainJob 1)" in msg
    assert "https://example.com/acme/churn.git" in msg


def test_commits_only_when_something_changed(tmp_path: Path) -> None:
    repo = bare(tmp_path)
    want = files(cm("a"), cm("b"))
    first = publish(want, repo=str(repo), path="envs/prod", branch="main", source=SOURCE)
    again = publish(want, repo=str(repo), path="envs/prod", branch="main", source=SOURCE)
    assert again.commit is None and again.changes.empty
    assert head(repo) == first.commit
    assert git("--git-dir", str(repo), "rev-list", "--count", "main").strip() == "1"
    changed = publish(files(cm("a", "2"), cm("b")), repo=str(repo), path="envs/prod", branch="main", source=SOURCE)
    assert changed.commit is not None
    assert [k for k, _ in changed.changes.changed] == ["ConfigMap"]
    assert git("--git-dir", str(repo), "rev-list", "--count", "main").strip() == "2"


def test_removes_files_whose_resources_are_gone(tmp_path: Path) -> None:
    repo = bare(tmp_path)
    publish(files(cm("a"), cm("b"), cm("c", ns="other")), repo=str(repo), path="envs/prod", branch="main",
            source=SOURCE)
    r = publish(files(cm("a")), repo=str(repo), path="envs/prod", branch="main", source=SOURCE)
    assert sorted(tree(repo)) == ["envs/prod/kustomization.yaml", "envs/prod/team/configmap.a.yaml"]
    assert sorted(f for _, f in r.changes.removed) == ["other/configmap.c.yaml", "team/configmap.b.yaml"]
    assert "removed: 2 (ConfigMap 2)" in git("--git-dir", str(repo), "log", "-1", "--format=%B", "main")


def test_other_folders_of_the_repository_are_kept(tmp_path: Path) -> None:
    repo = bare(tmp_path)
    publish(files(cm("a")), repo=str(repo), path="envs/dev", branch="main", source=SOURCE)
    publish(files(cm("z")), repo=str(repo), path="envs/prod", branch="main", source=SOURCE)
    publish(files(cm("y")), repo=str(repo), path="envs/prod", branch="main", source=SOURCE)
    t = tree(repo)
    assert "envs/dev/team/configmap.a.yaml" in t
    assert "envs/prod/team/configmap.y.yaml" in t and "envs/prod/team/configmap.z.yaml" not in t


def test_source_info_names_head_and_dirty_state_of_the_project_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "proj").mkdir(parents=True)
    (src / "elsewhere").mkdir()
    git("init", "-q", "--initial-branch=main", str(src))
    git("remote", "add", "origin", "https://user:secret@example.com/acme/ml.git", cwd=src)
    (src / "proj" / "ml-project.yaml").write_text("x: 1\n")
    (src / "elsewhere" / "f").write_text("1\n")
    git("add", ".", cwd=src)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=src)
    sha = git("rev-parse", "HEAD", cwd=src).strip()
    index_before = (src / ".git" / "index").stat().st_mtime_ns

    info = source_info(src / "proj", "churn", "prod", "kubeflow-latest")
    assert (info.commit, info.dirty) == (sha, False)
    assert info.repo == "https://example.com/acme/ml.git"  # credentials never reach a commit message

    (src / "elsewhere" / "f").write_text("2\n")  # outside the project: not its business
    assert source_info(src / "proj", "churn", "prod", "kubeflow-latest").dirty is False
    (src / "proj" / "new.py").write_text("print()\n")  # untracked inside the project
    info = source_info(src / "proj", "churn", "prod", "kubeflow-latest")
    assert info.dirty is True and info.revision == sha[:12] + "-dirty"
    assert (src / ".git" / "index").stat().st_mtime_ns == index_before  # read-only: the index is untouched

    msg_repo = bare(tmp_path)
    publish(files(cm("a")), repo=str(msg_repo), path="p", branch="main", source=info)
    msg = git("--git-dir", str(msg_repo), "log", "-1", "--format=%B", "main")
    assert f"{sha[:12]}-dirty" in msg and "Kfconf-Source-Dirty: true" in msg and "(with uncommitted changes)" in msg


def test_never_moves_a_branch_checked_out_in_a_work_tree(tmp_path: Path) -> None:
    work = tmp_path / "gitops"
    git("init", "-q", "--initial-branch=main", str(work))
    (work / "README").write_text("hi\n")
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init", cwd=work)
    before = head(work / ".git")
    with pytest.raises(UsageError, match="checked out"):
        publish(files(cm("a")), repo=str(work), path="envs/prod", branch="main", source=SOURCE)
    assert head(work / ".git") == before
    r = publish(files(cm("a")), repo=str(work), path="envs/prod", branch="rendered", source=SOURCE)
    assert r.commit is not None and head(work / ".git", "rendered") == r.commit
    assert git("status", "--porcelain", cwd=work) == ""  # the user's work tree and index are as they were
    assert not (work / "envs").exists()


def test_a_url_needs_push_and_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--push"):
        publish(files(cm("a")), repo="https://example.com/x.git", path="p", branch="main", source=SOURCE)
    with pytest.raises(UsageError, match="inside"):
        publish(files(cm("a")), repo=str(bare(tmp_path)), path="../up", branch="main", source=SOURCE)
    with pytest.raises(UsageError, match="not a git repository"):
        publish(files(cm("a")), repo=str(tmp_path / "nope"), path="p", branch="main", source=SOURCE)


def test_push_mode_builds_in_a_private_clone_and_pushes(tmp_path: Path) -> None:
    remote = bare(tmp_path)
    cache = tmp_path / "cache"
    r1 = publish(files(cm("a")), repo=str(remote), path="envs/prod", branch="main", source=SOURCE, push=True,
                 cache_dir=cache)
    r2 = publish(files(cm("a")), repo=str(remote), path="envs/prod", branch="main", source=SOURCE, push=True,
                 cache_dir=cache)
    assert r1.commit is not None and r2.commit is None and head(remote) == r1.commit
    assert "envs/prod/team/configmap.a.yaml" in tree(remote)
    with pytest.raises(ExternalError, match="cannot fetch"):
        publish(files(cm("a")), repo="file:///nonexistent/repo.git", path="p", branch="main", source=SOURCE,
                push=True, cache_dir=cache)


# --- races -----------------------------------------------------------------------------------------------------


def test_concurrent_publishers_in_threads_lose_nothing(tmp_path: Path) -> None:
    repo = bare(tmp_path)
    writers, rounds = 4, 5
    errors: list[BaseException] = []
    made: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(writers)

    def writer(w: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                res = publish(files(cm(f"w{w}", str(r))), repo=str(repo), path=f"envs/w{w}", branch="main",
                              source=SOURCE, retries=50)
                assert res.commit is not None
                with lock:
                    made.append(res.commit)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    history = git("--git-dir", str(repo), "rev-list", "main").split()
    assert sorted(history) == sorted(made)  # every commit made is on the branch: none was overwritten
    assert len(history) == writers * rounds
    t = tree(repo)
    for w in range(writers):
        assert f"v: '{rounds - 1}'" in t[f"envs/w{w}/team/configmap.w{w}.yaml"]
    git("--git-dir", str(repo), "fsck", "--strict")


PUBLISHER = """
import sys
from pathlib import Path
from kfconf.gitops.publish import SourceInfo, publish
repo, path, value, mode, cache, n = sys.argv[1:7]
push, n = mode == "push", int(n)
src = SourceInfo("src", "a" * 40, False, "p", "e", "s")
files = {f"team/configmap.c{i}.yaml": f"kind: ConfigMap\\nmetadata:\\n  name: c{i}\\ndata:\\n  v: '{value}'\\n"
         for i in range(n)}
r = publish(files, repo=repo, path=path, branch="main", source=src, push=push, retries=60, cache_dir=Path(cache))
print(r.commit or "")
"""


def run_publisher(repo: Path, path: str, value: str, push: bool, cache: Path, n: int = 20,
                  env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", PUBLISHER, str(repo), path, value, "push" if push else "local",
                             str(cache), str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("push", [False, True], ids=["local-cas", "push"])
def test_concurrent_publisher_processes_lose_nothing(tmp_path: Path, push: bool) -> None:
    repo = bare(tmp_path)
    cache = tmp_path / "cache"  # shared by all of them: the private clone must cope too
    procs = [run_publisher(repo, f"envs/p{i}", str(i), push, cache) for i in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    commits = [o.strip() for o, _ in outs]
    history = git("--git-dir", str(repo), "rev-list", "main").split()
    assert sorted(history) == sorted(commits)
    t = tree(repo)
    for i in range(4):
        assert sum(k.startswith(f"envs/p{i}/") for k in t) == 20
        assert f"v: '{i}'" in t[f"envs/p{i}/team/configmap.c0.yaml"]
    git("--git-dir", str(repo), "fsck", "--strict")


def test_two_publishers_of_one_folder_both_land_in_history(tmp_path: Path) -> None:
    repo = bare(tmp_path)
    procs = [run_publisher(repo, "envs/prod", v, False, tmp_path / "c") for v in ("x", "y")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    commits = {o.strip() for o, _ in outs}
    assert commits == set(git("--git-dir", str(repo), "rev-list", "main").split())
    final = tree(repo)["envs/prod/team/configmap.c0.yaml"]
    assert final in {"kind: ConfigMap\nmetadata:\n  name: c0\ndata:\n  v: 'x'\n",
                     "kind: ConfigMap\nmetadata:\n  name: c0\ndata:\n  v: 'y'\n"}


# --- crashes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("push", [False, True], ids=["local-cas", "push"])
@pytest.mark.parametrize("point", ["blobs", "tree", "commit"])
def test_publisher_killed_mid_way_leaves_the_repository_consistent(tmp_path: Path, point: str, push: bool) -> None:
    repo = bare(tmp_path)
    cache = tmp_path / "cache"
    first = run_publisher(repo, "envs/prod", "old", push, cache, n=200)
    assert first.wait(timeout=120) == 0
    before, before_tree = head(repo), tree(repo)

    killed = run_publisher(repo, "envs/prod", "new", push, cache, n=200, env={FAULT_ENV: point})
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL  # it really died at that point, by SIGKILL
    assert head(repo) == before and tree(repo) == before_tree  # the branch did not move, nothing half-written
    git("--git-dir", str(repo), "fsck", "--strict", "--no-dangling")

    after = run_publisher(repo, "envs/prod", "new", push, cache, n=200)
    out, err = after.communicate(timeout=120)
    assert after.returncode == 0, err
    assert head(repo) == out.strip() != before
    assert all("v: 'new'" in v for k, v in tree(repo).items() if k.startswith("envs/prod/team/"))
    git("--git-dir", str(repo), "fsck", "--strict")


def test_publisher_killed_at_random_moments_never_leaves_a_half_commit(tmp_path: Path) -> None:
    repo = bare(tmp_path)
    n = 600
    base = run_publisher(repo, "envs/prod", "v0", False, tmp_path / "c", n=n)
    assert base.wait(timeout=120) == 0
    t0 = time.monotonic()
    probe = run_publisher(repo, "envs/prod", "probe", False, tmp_path / "c", n=n)
    assert probe.wait(timeout=120) == 0
    duration = time.monotonic() - t0
    rng = random.Random(6)
    for i in range(8):
        p = run_publisher(repo, "envs/prod", f"v{i + 1}", False, tmp_path / "c", n=n)
        time.sleep(rng.uniform(0.05, duration))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        t = tree(repo)
        values = {v.rsplit("v: ", 1)[1] for k, v in t.items() if k.startswith("envs/prod/")}
        assert len(values) == 1, f"a mix of two publishes after a kill: {sorted(values)[:5]}"
        assert sum(k.startswith("envs/prod/") for k in t) == n
        git("--git-dir", str(repo), "fsck", "--strict", "--no-dangling")
    final = run_publisher(repo, "envs/prod", "final", False, tmp_path / "c", n=n)
    assert final.wait(timeout=120) == 0
    assert {v.rsplit("v: ", 1)[1] for v in tree(repo).values()} == {"'final'\n"}
