"""Fault campaigns for publish and sync, shared by tests/reliability and tools/faults.py.

Publish: N publisher processes race rounds into one bare repository (`publish_race`), or one publisher is
SIGKILLed at random moments (`publish_kills`). Every published folder is a *version* — (publisher, round)
→ exact files — so a folder in any commit either equals one whole version or is half-written, and the
checks compare git's blob ids, never re-read content. Sync: `kfconf sync --once` SIGKILLed at random
moments against a real API server (`sync_kills`), then run to the end and checked for convergence.

Each campaign returns its counts and a list of problems (empty: everything held); callers assert or print.
Run as `python -m kfconf.testing.faults publisher ...` it is the publisher process itself.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kfconf.sync.kube import Kube
    from kfconf.testing.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ARGS = ("faults", "a" * 40, False, "faults", "e", "s")
LOCKS = ("refs/heads/main.lock", "packed-refs.lock", "HEAD.lock", "index.lock", "shallow.lock")


# --------------------------------------------------------------------------------------------------------------
# what a publisher writes: versions of a folder


def version(who: str, rnd: int, n: int, ns: str = "team") -> dict[str, str]:
    """The exact files publisher `who` writes in round `rnd`: n ConfigMaps less every fifth one, shifted
    by the round (so rounds also add and remove files), and a kustomization listing them."""
    files = {f"{ns}/configmap.c{k}.yaml":
             f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{k}\n  namespace: {ns}\n"
             f"data:\n  who: {who}\n  round: '{rnd}'\n"
             for k in range(n) if (k + rnd) % 5}
    files["kustomization.yaml"] = "resources:\n" + "".join(f"- {p}\n" for p in sorted(files))
    return files


def blob_id(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fingerprint(files: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset((rel, blob_id(text)) for rel, text in files.items())


def git(repo: Path, *args: str, check: bool = True) -> str:
    p = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=False,
                       timeout=300)
    if check and p.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


def head(repo: Path, branch: str = "main") -> str | None:
    out = git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False).strip()
    return out or None


def folders(repo: Path, commit: str, paths: set[str]) -> dict[str, frozenset[tuple[str, str]]]:
    """path → its files (relative path, blob id) at `commit`, for the published folders."""
    out: dict[str, set[tuple[str, str]]] = {}
    for line in git(repo, "ls-tree", "-r", "--full-tree", commit).splitlines():
        meta, _, name = line.partition("\t")
        sha = meta.split()[2]
        for p in paths:
            if name.startswith(p + "/"):
                out.setdefault(p, set()).add((name[len(p) + 1:], sha))
    return {p: frozenset(v) for p, v in out.items()}


def _busy(repo: Path) -> bool:
    """Is git's own maintenance at work in `repo`? A push runs `git gc --auto`, which detaches (leaving the
    killed publisher's process group) and holds gc.pid; Linux also shows any git process working in it."""
    pidfile = repo / "gc.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(int(pidfile.read_text().split()[0]), 0)
        return True
    root = str(repo.resolve())
    proc = Path("/proc")
    if proc.is_dir():
        for d in proc.iterdir():
            if d.name.isdigit() and d.name != str(os.getpid()):
                with contextlib.suppress(OSError):
                    if os.readlink(d / "cwd").startswith(root):
                        return True
    return False


def wait_quiet(repo: Path, timeout: float = 300.0) -> bool:
    """Wait until no gc or other git process works in `repo`; True if one was (and we waited).

    fsck racing `gc --auto` reports objects that gc is moving from loose files into a pack as "unable to
    mmap … object corrupt or missing" (and packs it is replacing as "index not opened"), although nothing is
    lost; so the consistency checks run only when the repository is quiet."""
    waited = False
    deadline = time.monotonic() + timeout
    while _busy(repo) and time.monotonic() < deadline:
        waited = True
        time.sleep(0.05)
    return waited


def fsck(repo: Path) -> list[str]:
    """git fsck's errors (dangling and unreachable objects are normal after a kill: git gc removes them)."""
    wait_quiet(repo)
    p = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict", "--no-dangling", "--no-progress"],
                       capture_output=True, text=True, check=False, timeout=300)
    bad = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip() and not ln.startswith(("dangling",
                                                                                                  "unreachable"))]
    return bad if p.returncode or bad else []


def stale_locks(repo: Path) -> list[str]:
    return [lock for lock in LOCKS if (repo / lock).exists()]


# --------------------------------------------------------------------------------------------------------------
# the publisher process


def _publisher(argv: list[str]) -> int:
    from kfconf.gitops.publish import SourceInfo, publish

    p = argparse.ArgumentParser(prog="publisher")
    p.add_argument("--repo", required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--who", required=True)
    p.add_argument("--rounds", default="0", help="a round, or FIRST:END")
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--push", action="store_true")
    p.add_argument("--cache", default=None)
    p.add_argument("--retries", type=int, default=None, help="default: publish()'s own (what the CLI uses)")
    a = p.parse_args(argv)
    first, _, end = a.rounds.partition(":")
    source = SourceInfo(*SOURCE_ARGS)
    cache = Path(a.cache) if a.cache else None
    for rnd in range(int(first), int(end) if end else int(first) + 1):
        budget = {"retries": a.retries} if a.retries is not None else {}
        res = publish(version(a.who, rnd, a.files), repo=a.repo, path=a.path, branch="main", source=source,
                      push=a.push, cache_dir=cache, **budget)
        print(json.dumps({"who": a.who, "round": rnd, "commit": res.commit, "attempts": res.attempts}), flush=True)
    return 0


def start_publisher(repo: Path, path: str, who: str, rounds: str, files: int, *, push: bool = False,
                    cache: Path | None = None, new_session: bool = False) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "kfconf.testing.faults", "publisher", "--repo", str(repo), "--path", path,
            "--who", who, "--rounds", rounds, "--files", str(files)]
    if push:
        argv.append("--push")
    if cache is not None:
        argv += ["--cache", str(cache)]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session, env={**os.environ, "PYTHONUNBUFFERED": "1"})


# --------------------------------------------------------------------------------------------------------------
# the race: N publishers x R rounds


@dataclass
class Publisher:
    who: str
    path: str
    push: bool


@dataclass
class RaceResult:
    publishers: int
    rounds: int
    commits: int = 0
    attempts: int = 0
    max_attempts: int = 0
    histogram: Counter[int] = field(default_factory=Counter)
    """attempts a publish needed → how many publishes needed that many."""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def race_plan(publishers: int, shared: int = 2) -> list[Publisher]:
    """Every publisher its own folder, except the last `shared`, which fight over one; odd ones push
    through a private cache (a remote), even ones move the branch in place (compare-and-swap)."""
    out = []
    for i in range(publishers):
        path = "envs/shared" if i >= publishers - shared else f"envs/p{i}"
        out.append(Publisher(f"p{i}", path, push=i % 2 == 1))
    return out


def publish_race(repo: Path, publishers: int, rounds: int, files: int = 12, cache: Path | None = None,
                 shared: int = 2, timeout: float = 600) -> RaceResult:
    """N processes publish R rounds each at once; then check the history (see `check_history`)."""
    plan = race_plan(publishers, shared)
    res = RaceResult(publishers, rounds)
    t0 = time.monotonic()
    procs = [start_publisher(repo, p.path, p.who, f"0:{rounds}", files, push=p.push, cache=cache) for p in plan]
    made: dict[str, list[tuple[int, str | None]]] = {p.who: [] for p in plan}
    for p, proc in zip(plan, procs, strict=True):
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode:
            res.problems.append(f"{p.who} exited {proc.returncode}: {err.strip()[-500:]}")
        for line in out.splitlines():
            rec = json.loads(line)
            made[p.who].append((rec["round"], rec["commit"]))
            res.attempts += rec["attempts"]
            res.max_attempts = max(res.max_attempts, rec["attempts"])
            res.histogram[rec["attempts"]] += 1
    res.seconds = time.monotonic() - t0
    res.problems += check_history(repo, plan, made, rounds, files)
    res.commits = len(git(repo, "rev-list", "main").split()) if head(repo) else 0
    return res


def check_history(repo: Path, plan: list[Publisher], made: dict[str, list[tuple[int, str | None]]], rounds: int,
                  files: int) -> list[str]:
    """No lost update, linear history, every commit's folders whole, each commit changes one folder."""
    problems: list[str] = []
    paths = {p.path for p in plan}
    known: dict[str, dict[frozenset[tuple[str, str]], tuple[str, int]]] = {path: {} for path in paths}
    for p in plan:
        for rnd in range(rounds):
            known[p.path][fingerprint(version(p.who, rnd, files))] = (p.who, rnd)
    for p in plan:
        rounds_done = [r for r, _ in made[p.who]]
        if rounds_done != list(range(rounds)):
            problems.append(f"{p.who}: finished rounds {rounds_done[:5]}…, expected 0..{rounds - 1}")
        nones = [r for r, c in made[p.who] if c is None]
        if nones:  # every round differs from the branch's folder, so every round must make a commit
            problems.append(f"{p.who}: rounds {nones} made no commit")
    lines = git(repo, "rev-list", "--parents", "--reverse", "main").splitlines()
    history = [ln.split() for ln in lines]
    if sum(len(h) == 1 for h in history) != 1 or any(len(h) > 2 for h in history):
        problems.append("history is not linear (a merge, or more than one root)")
    order = {h[0]: i for i, h in enumerate(history)}
    made_commits = {c: (who, r) for who, recs in made.items() for r, c in recs if c}
    lost = sorted(f"{who} round {r}" for c, (who, r) in made_commits.items() if c not in order)
    if lost:
        problems.append(f"lost updates (commits not on the branch): {lost[:10]}")
    if len(history) != len(made_commits):
        problems.append(f"{len(history)} commits on the branch, {len(made_commits)} reported by the publishers")
    # each publisher's rounds land in its own order
    for p in plan:
        seq = [order.get(c, -1) for _r, c in made[p.who] if c]
        if seq != sorted(seq):
            problems.append(f"{p.who}: rounds landed out of order")
    previous: dict[str, tuple[str, int]] = {}
    for commit, *_parent in history:
        now: dict[str, tuple[str, int]] = {}
        for path, fp in folders(repo, commit, paths).items():
            ver = known[path].get(fp)
            if ver is None:
                problems.append(f"commit {commit[:12]}: {path} is not one whole version (half-written or mixed)")
                continue
            now[path] = ver
        changed = [p for p in paths if now.get(p) != previous.get(p)]
        gone = [p for p in previous if p not in now]
        if len(changed) != 1 or gone:
            problems.append(f"commit {commit[:12]}: changed {changed}, removed {gone}: expected exactly one folder")
        mine = made_commits.get(commit)
        if mine is not None and changed and now.get(changed[0]) != mine:
            problems.append(f"commit {commit[:12]} by {mine}: holds {now.get(changed[0])} instead")
        previous = now
    # the final tree: every publisher's last round (for a shared folder: the last of them to land)
    for path in paths:
        owners = [p.who for p in plan if p.path == path]
        last = [c for who in owners for r, c in made[who] if r == rounds - 1 and c]
        if not last:
            continue
        winner = made_commits[max(last, key=lambda c: order.get(c, -1))]
        if previous.get(path) != winner:
            problems.append(f"final {path}: {previous.get(path)}, expected {winner} (the last to land)")
    problems += [f"fsck: {ln}" for ln in fsck(repo)]
    return problems


# --------------------------------------------------------------------------------------------------------------
# SIGKILL at random moments


@dataclass
class KillResult:
    kills: int = 0
    group_kills: int = 0
    """Kills of the whole process group (the publisher's git children die too, like a container's)."""
    before_commit: int = 0
    """The branch still held the previous version after the kill."""
    landed: int = 0
    """The killed publish's version was on the branch (it got past the branch move, or its git child did)."""
    finished: int = 0
    """The publisher had finished before the kill arrived."""
    gc_waits: int = 0
    """Checks that first waited for git's own gc (started by a push) to finish."""
    locks_left: int = 0
    """Kills that left a ref lock behind (a git child died holding it); the next publish must clear it."""
    next_ok: int = 0
    modes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _wait_group(pgid: int, timeout: float = 30.0) -> None:
    """Wait until no process of the group is left (a SIGKILLed publisher's git child may still finish)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def publish_kills(repo: Path, kills: int, seed: int, files: int = 300, cache: Path | None = None,
                  path: str = "envs/prod") -> KillResult:
    """Kill a publisher with SIGKILL `kills` times at random delays over a publish's whole life (start-up
    included); after each kill: fsck clean, the branch on one whole version (the old or the new one), no
    lock left behind, and the next publish completes."""
    rng = random.Random(seed)
    res = KillResult()
    t0 = time.monotonic()

    def complete(who: str, push: bool) -> float:
        s = time.monotonic()
        p = start_publisher(repo, path, who, "0", files, push=push, cache=cache)
        _out, err = p.communicate(timeout=300)
        if p.returncode:
            res.problems.append(f"publish {who} failed after a kill: {err.strip()[-500:]}")
        return time.monotonic() - s

    complete("base", False)
    durations = [complete("probe", True), complete("probe2", False)]
    versions = {fingerprint(version(w, 0, files)): w for w in ("base", "probe", "probe2")}
    for i in range(kills):
        push, group = rng.random() < 0.5, rng.random() < 0.5
        who = f"k{i}"
        versions[fingerprint(version(who, 0, files))] = who
        before = folders(repo, head(repo) or "", {path}).get(path)
        proc = start_publisher(repo, path, who, "0", files, push=push, cache=cache, new_session=True)
        time.sleep(rng.uniform(0, statistics.median(durations[-6:])))  # over a whole publish, start-up included
        if proc.poll() is not None:
            res.finished += 1
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        _wait_group(proc.pid)
        res.kills += 1
        res.group_kills += group
        res.modes["push" if push else "local"] += 1
        res.gc_waits += wait_quiet(repo)
        sha = head(repo)
        now = folders(repo, sha, {path}).get(path) if sha else None
        if now is None or now not in versions:
            res.problems.append(f"kill {i} ({'push' if push else 'local'}): {path} is not one whole version")
        elif now == before:
            res.before_commit += 1
        elif versions[now] == who:
            res.landed += 1
        else:
            res.problems.append(f"kill {i}: {path} holds {versions[now]}, neither the previous version nor {who}")
        res.problems += [f"kill {i}: fsck: {ln}" for ln in fsck(repo)]
        res.locks_left += bool(stale_locks(repo))
        nxt = f"n{i}"
        versions[fingerprint(version(nxt, 0, files))] = nxt
        durations.append(complete(nxt, rng.random() < 0.5))
        wait_quiet(repo)
        locks = stale_locks(repo)
        if locks:
            res.problems.append(f"kill {i}: lock files still there after the next publish: {locks}")
        sha = head(repo)
        if sha and versions.get(folders(repo, sha, {path}).get(path, frozenset())) == nxt:
            res.next_ok += 1
        else:
            res.problems.append(f"kill {i}: the next publish did not land")
    res.seconds = time.monotonic() - t0
    return res


# --------------------------------------------------------------------------------------------------------------
# sync: a desired state per round, published into a bare repository


PROJECT = "faults"


def desired(ns: str, rnd: int, n: int) -> list[dict[str, Any]]:
    """Round `rnd`'s objects: n ConfigMaps less every sixth (shifted by the round, so each round creates
    and prunes some) and a few ServiceAccounts (an earlier apply stage than ConfigMaps)."""
    labels = {"kfconf.dev/project": PROJECT}
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{k:04d}", "namespace": ns,
                                                                "labels": labels},
         "data": {"round": str(rnd), "k": str(k)}}
        for k in range(n) if (k + rnd) % 6]
    out += [{"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": f"sa-{k}", "namespace": ns, "labels": labels,
                          "annotations": {"faults/round": str(rnd)}}}
            for k in range(4) if (k + rnd) % 3]
    return out


def publish_objects(repo: Path, folder: str, objects: list[dict[str, Any]], rnd: int) -> str:
    import yaml

    from kfconf.gitops.publish import SourceInfo, publish

    files = {f"{o['metadata']['namespace']}/{o['kind'].lower()}.{o['metadata']['name']}.yaml":
             yaml.safe_dump(o, sort_keys=True) for o in objects}
    res = publish(files, repo=str(repo), path=folder, branch="main",
                  source=SourceInfo("faults", f"{rnd:040d}", False, PROJECT, None, "s"))
    return res.commit or head(repo) or ""


def bare_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(path)], check=True)
    return path


def start_sync(cp: ControlPlane, repo: str, folder: str, cache: Path, *extra: str,
               log: Path | None = None) -> subprocess.Popen[str]:
    """`kfconf sync` as a process. A long-running one logs to `log`.out/.err: nobody reads its pipes while it
    runs, and a full pipe would stop it mid-write (it prints a line per object it changes)."""
    argv = [sys.executable, "-m", "kfconf.cli.main", "sync", "--repo", repo, "--path", folder,
            "--cache-dir", str(cache), "--kubeconfig", str(cp.admin_kubeconfig), *extra]
    if log is None:
        return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def ours(kube: Kube, ns: str | None) -> list[dict[str, Any]]:
    """Every ConfigMap and ServiceAccount labelled as this project's (inventory excluded), in `ns` or anywhere."""
    sel = f"kfconf.dev/project={PROJECT},app.kubernetes.io/managed-by=kfconf,kfconf.dev/inventory!=true"
    return [*kube.list("v1", "ConfigMap", ns, label_selector=sel),
            *kube.list("v1", "ServiceAccount", ns, label_selector=sel)]


def key(o: dict[str, Any]) -> str:
    return f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"


def inventory_keys(kube: Kube, ns: str) -> list[str]:
    from kfconf.sync import inventory as inv

    got, _, _ = inv.load(kube, inv.inventory_name(PROJECT, None), ns)
    return [f"{r.kind}/{r.namespace}/{r.name}" for r in got.refs()]


def converged(kube: Kube, ns: str, want: list[dict[str, Any]]) -> list[str]:
    """What differs from `want`: missing, orphaned (ours but not wanted), duplicated, stale content, inventory."""
    problems: list[str] = []
    live = ours(kube, ns)
    keys = Counter(key(o) for o in live)
    wanted = {key(o): o for o in want}
    dup = sorted(k for k, c in keys.items() if c > 1)
    missing = sorted(set(wanted) - set(keys))
    orphans = sorted(set(keys) - set(wanted))
    if dup:
        problems.append(f"duplicated: {dup[:5]}")
    if missing:
        problems.append(f"{len(missing)} missing: {missing[:5]}")
    if orphans:
        problems.append(f"{len(orphans)} orphaned (ours, not in git): {orphans[:5]}")
    stale = [key(o) for o in live if key(o) in wanted and (
        o.get("data") != wanted[key(o)].get("data")
        or (o["metadata"].get("annotations") or {}).get("faults/round")
        != (wanted[key(o)]["metadata"].get("annotations") or {}).get("faults/round"))]
    if stale:
        problems.append(f"{len(stale)} with stale content: {stale[:5]}")
    entries = inventory_keys(kube, ns)
    if sorted(entries) != sorted(wanted) or len(entries) != len(set(entries)):
        extra, gone = sorted(set(entries) - set(wanted))[:5], sorted(set(wanted) - set(entries))[:5]
        problems.append(f"inventory ({len(entries)} entries) differs from the source ({len(wanted)}): "
                        f"extra {extra}, missing {gone}")
    return problems


@dataclass
class SyncKillResult:
    kills: int = 0
    by_delay: int = 0
    """Kills after a random delay from the process start (any phase: start-up, reads, apply, prune, record)."""
    by_progress: int = 0
    """Kills once a random number of the round's objects had been written."""
    before_apply: int = 0
    """None of the round's objects written yet when it died."""
    mid_apply: int = 0
    """Some, not all, of the round's objects written."""
    mid_prune: int = 0
    """Every object written, but what left git not yet all deleted."""
    after: int = 0
    """Applied and pruned (it died recording the result, or had finished)."""
    unknown_after_kill: int = 0
    """Objects of ours the inventory did not know right after a kill (each would be orphaned forever)."""
    final_exit: int | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def sync_kills(cp: ControlPlane, kube: Kube, ns: str, workdir: Path, kills: int, seed: int,
               objects: int = 200) -> SyncKillResult:
    """`kfconf sync --once` SIGKILLed `kills` times — alternately after a random delay and once a random share
    of the round's objects was written — while git moves on each time (every object changes, some come, some
    go). After each kill nothing of ours is unknown to the inventory; a final run converges: every object
    once, inventory = source, nothing orphaned, and a second run changes nothing."""
    rng = random.Random(seed)
    res = SyncKillResult()
    t0 = time.monotonic()
    repo = bare_repo(workdir / "gitops.git")
    cache = workdir / "cache"
    folder = "faults/prod"
    publish_objects(repo, folder, desired(ns, 0, objects), 0)
    s = time.monotonic()
    first = start_sync(cp, str(repo), folder, cache, "--once")
    _out, err = first.communicate(timeout=300)
    if first.returncode:
        res.problems.append(f"first sync exited {first.returncode}: {err.strip()[-500:]}")
        return res
    span = time.monotonic() - s
    for i in range(1, kills + 1):
        want = desired(ns, i, objects)
        publish_objects(repo, folder, want, i)
        proc = start_sync(cp, str(repo), folder, cache, "--once", "--concurrency", rng.choice(("1", "4", "8")))
        if i % 2:
            res.by_delay += 1
            time.sleep(rng.uniform(0.0, 1.2 * span))
        else:
            res.by_progress += 1
            target = rng.randint(1, len(want) - 1)
            while proc.poll() is None and _fresh(kube, ns, i) < target:
                time.sleep(0.005)
        finished = proc.poll() is not None
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        res.kills += 1
        live = ours(kube, ns)
        fresh = _fresh(kube, ns, i)
        wanted = {key(o) for o in want}
        if finished or (fresh == len(want) and {key(o) for o in live} == wanted):
            res.after += 1
        elif fresh == len(want):
            res.mid_prune += 1
        elif fresh == 0:
            res.before_apply += 1
        else:
            res.mid_apply += 1
        known = set(inventory_keys(kube, ns))
        unknown = [key(o) for o in live if key(o) not in known]
        res.unknown_after_kill += len(unknown)
        if unknown:
            res.problems.append(f"kill {i}: objects of ours the inventory does not know: {unknown[:5]}")
    final = desired(ns, kills, objects)
    last = start_sync(cp, str(repo), folder, cache, "--once")
    _out, err = last.communicate(timeout=300)
    res.final_exit = last.returncode
    if last.returncode:
        res.problems.append(f"final sync exited {last.returncode}: {err.strip()[-800:]}")
    res.problems += converged(kube, ns, final)
    again = start_sync(cp, str(repo), folder, cache, "--once", "-o", "json")
    out, err = again.communicate(timeout=300)
    if again.returncode:
        res.problems.append(f"second final sync exited {again.returncode}: {err.strip()[-500:]}")
    else:
        actions = Counter(r["action"] for r in json.loads(out)["resources"])
        if set(actions) != {"unchanged"}:
            res.problems.append(f"a second run after convergence still acted: {dict(actions)}")
    res.seconds = time.monotonic() - t0
    return res


# --------------------------------------------------------------------------------------------------------------
# a sync loop under faults: the API server restarted or crashed mid-apply, the git source gone


def fetch(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def until(fn: Any, timeout: float, every: float = 0.1) -> Any:
    """fn() until it is truthy, else None after `timeout` (an exception counts as not yet: the API server may
    be restarting)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception:  # the API server is down for a moment: keep polling
            last = None
        if last:
            return last
        time.sleep(every)
    return None


@dataclass
class Loop:
    """`kfconf sync` running as a loop, with its /readyz and /metrics; its output goes to files."""

    proc: subprocess.Popen[str]
    base: str
    log: Path

    @classmethod
    def start(cls, cp: ControlPlane, repo: str, folder: str, cache: Path, interval: str = "0.5s") -> Loop:
        from kfconf.testing.controlplane import free_port

        port = free_port()
        log = cache.parent / f"loop-{port}"
        proc = start_sync(cp, repo, folder, cache, "--interval", interval, "--listen", f"127.0.0.1:{port}", log=log)
        loop = cls(proc, f"http://127.0.0.1:{port}", log)
        if not until(lambda: fetch(f"{loop.base}/healthz")[0] == 200, timeout=60):
            loop.stop()
            raise RuntimeError(f"the sync loop never served /healthz: {loop.stderr()[-2000:]}")
        return loop

    def stderr(self) -> str:
        return self.log.with_suffix(".err").read_text(errors="replace")

    def ready(self) -> tuple[int, str]:
        return fetch(f"{self.base}/readyz")

    def errors(self) -> float:
        return metric(fetch(f"{self.base}/metrics")[1], 'kfconf_reconciles_total{result="error"}')

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        return self.proc.returncode, self.stderr()


@dataclass
class RestartResult:
    restarts: int = 0
    crashes: int = 0
    """Of the restarts, those by SIGKILL (the others: SIGTERM, a graceful stop)."""
    mid_apply: int = 0
    """The API server went down while the round's objects were partly written."""
    failed_rounds: int = 0
    """Rounds the loop recorded as errors (the outages it saw)."""
    max_converge_s: float = 0.0
    """Longest time from the API server being back to the cluster equal to git."""
    loop_exit: int | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _fresh(kube: Kube, ns: str, rnd: int) -> int:
    return sum(1 for o in ours(kube, ns) if (o.get("data") or {}).get("round") == str(rnd)
               or (o["metadata"].get("annotations") or {}).get("faults/round") == str(rnd))


def sync_restarts(cp: ControlPlane, kube: Kube, ns: str, workdir: Path, restarts: int, seed: int,
                  objects: int = 300) -> RestartResult:
    """A sync loop runs; each time git moves on, the API server is restarted (SIGTERM) or crashes (SIGKILL)
    while the loop is applying. The loop must live through it and converge once the server is back."""
    rng = random.Random(seed)
    res = RestartResult()
    t0 = time.monotonic()
    repo = bare_repo(workdir / "gitops.git")
    folder = "faults/prod"
    publish_objects(repo, folder, desired(ns, 0, objects), 0)
    loop = Loop.start(cp, str(repo), folder, workdir / "cache")
    try:
        if until(lambda: not converged(kube, ns, desired(ns, 0, objects)), timeout=120) is None:
            res.problems.append(f"never converged on round 0: {converged(kube, ns, desired(ns, 0, objects))}")
            return res
        for rnd in range(1, restarts + 1):
            want = desired(ns, rnd, objects)
            publish_objects(repo, folder, want, rnd)
            # wait for the loop to start writing this round, then pull the server from under it
            seen = until(lambda r=rnd: _fresh(kube, ns, r), timeout=60, every=0.02) or 0
            res.mid_apply += 0 < seen < len(want)
            crash = rng.random() < 0.5
            if crash:  # SIGKILL, down for a while (the loop fails rounds meanwhile), then started again
                cp.kill_apiserver()
                time.sleep(rng.uniform(0.0, 2.0))
                cp.start_apiserver_again()
            else:  # SIGTERM, then started again on the same port (down for as long as a start takes)
                cp.restart_apiserver()
            res.restarts += 1
            res.crashes += crash
            back = time.monotonic()
            if until(lambda w=want: not converged(kube, ns, w), timeout=120) is None:
                res.problems.append(f"restart {rnd}: no convergence within 120 s: {converged(kube, ns, want)}; "
                                    f"the loop said: {loop.stderr()[-1500:]}")
            res.max_converge_s = max(res.max_converge_s, time.monotonic() - back)
            if loop.proc.poll() is not None:
                res.problems.append(f"restart {rnd}: the sync loop died (exit {loop.proc.returncode})")
                break
        if until(lambda: loop.ready()[0] == 200, timeout=60) is None:
            res.problems.append(f"/readyz never came back: {loop.ready()}")
        res.failed_rounds = int(loop.errors())
    finally:
        res.loop_exit, err = loop.stop()
    if res.loop_exit != 0:
        res.problems.append(f"the loop exited {res.loop_exit}: {err.strip()[-800:]}")
    if "Traceback" in err:
        res.problems.append(f"a traceback in the loop's output: {err[err.index('Traceback'):][:800]}")
    res.seconds = time.monotonic() - t0
    return res


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["publisher"]:
        return _publisher(argv[1:])
    print("usage: python -m kfconf.testing.faults publisher --repo R --path P --who W [--rounds A:B] …",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
