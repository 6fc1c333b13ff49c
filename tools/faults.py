"""The long fault campaigns (outside the test suite), printing the counts RELIABILITY.md quotes:

    python tools/faults.py                      # everything, with the defaults below
    python tools/faults.py --only publish       # publish race + publish kills (no cluster needed)
    python tools/faults.py --only sync --sync-kills 100 --restarts 10

* publish race: `--races` times, 10 publisher processes x 20 rounds into one bare repository;
* publish kills: `--publish-kills` SIGKILLs of a publisher at random moments;
* sync kills: `--sync-kills` SIGKILLs of `kfconf sync --once` against a real kube-apiserver (started here,
  without CRDs: the campaign syncs ConfigMaps and ServiceAccounts), then a converging run;
* restarts: `--restarts` API-server restarts (SIGTERM) and crashes (SIGKILL) under a running sync loop.

The campaigns and their checks are kfconf.testing.faults (the tests in tests/reliability run short ones).
Exit 0 when every check held, 1 otherwise (the problems are printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kfconf.testing import faults  # noqa: E402


def publish_campaign(args: argparse.Namespace, work: Path) -> list[str]:
    problems: list[str] = []
    hist: Counter[int] = Counter()
    commits, seconds = 0, 0.0
    for i in range(args.races):
        d = work / f"race{i}"
        d.mkdir()
        r = faults.publish_race(faults.bare_repo(d / "gitops.git"), 10, 20, cache=d / "cache")
        hist.update(r.histogram)
        commits += r.commits
        seconds += r.seconds
        problems += [f"race {i}: {p}" for p in r.problems]
        print(f"race {i + 1}/{args.races}: {r.commits} commits in {r.seconds:.1f} s, max {r.max_attempts} attempts, "
              f"{len(r.problems)} problems", flush=True)
    publishes = sum(hist.values())
    print(f"PUBLISH RACE: {args.races} races x 10 publishers x 20 rounds = {publishes} publishes -> {commits} "
          f"commits, {seconds:.0f} s; attempts per publish: {dict(sorted(hist.items()))}; "
          f"max {max(hist, default=0)}; problems {len(problems)}", flush=True)

    d = work / "kills"
    d.mkdir()
    k = faults.publish_kills(faults.bare_repo(d / "gitops.git"), args.publish_kills, args.seed, files=300,
                             cache=d / "cache")
    problems += [f"publish kills: {p}" for p in k.problems]
    print(f"PUBLISH KILLS: {k.kills} SIGKILLs ({k.group_kills} of the whole process group; {dict(k.modes)}) in "
          f"{k.seconds:.0f} s: {k.before_commit} left the previous version, {k.landed} had landed (of which "
          f"{k.finished} finished before the kill); {k.locks_left} left a ref lock (cleared by the next publish); "
          f"checks that first waited for git's own gc: {k.gc_waits}; "
          f"next publish completed {k.next_ok}/{k.kills}; "
          f"problems {len(k.problems)}", flush=True)
    return problems


def sync_campaign(args: argparse.Namespace, work: Path) -> list[str]:
    from kfconf.sync.kube import Kube
    from kfconf.testing.controlplane import ControlPlane

    problems: list[str] = []
    t0 = time.monotonic()
    with ControlPlane(name="faults") as cp:
        print(f"control plane ready in {time.monotonic() - t0:.1f} s at {cp.url}", flush=True)
        kube = Kube(cp.admin_client(), field_manager="faults-admin")
        d = work / "sync-kills"
        d.mkdir()
        s = faults.sync_kills(cp, kube, cp.new_namespace("kills"), d, args.sync_kills, args.seed,
                              objects=args.objects)
        problems += [f"sync kills: {p}" for p in s.problems]
        print(f"SYNC KILLS: {s.kills} SIGKILLs of `kfconf sync --once` ({s.by_delay} after a random delay, "
              f"{s.by_progress} at a random point of the apply; {args.objects} objects) in {s.seconds:.0f} s: "
              f"{s.before_apply} before any write, {s.mid_apply} mid-apply, {s.mid_prune} mid-prune, {s.after} "
              f"after; objects unknown to the inventory after a kill: {s.unknown_after_kill}; final run exit "
              f"{s.final_exit}; problems {len(s.problems)}", flush=True)
        d = work / "restarts"
        d.mkdir()
        r = faults.sync_restarts(cp, kube, cp.new_namespace("restarts"), d, args.restarts, args.seed,
                                 objects=args.objects)
        problems += [f"restarts: {p}" for p in r.problems]
        print(f"API SERVER RESTARTS: {r.restarts} under a sync loop ({r.crashes} SIGKILL, {r.restarts - r.crashes} "
              f"SIGTERM; {r.mid_apply} mid-apply) in {r.seconds:.0f} s; the loop recorded {r.failed_rounds} failed "
              f"rounds, converged at most {r.max_converge_s:.1f} s after the server was back, exited {r.loop_exit}; "
              f"problems {len(r.problems)}", flush=True)
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("publish", "sync"))
    p.add_argument("--races", type=int, default=5)
    p.add_argument("--publish-kills", type=int, default=200)
    p.add_argument("--sync-kills", type=int, default=100)
    p.add_argument("--restarts", type=int, default=10)
    p.add_argument("--objects", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    problems: list[str] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kfconf-faults-") as tmp:
        work = Path(tmp)
        if args.only in (None, "publish"):
            problems += publish_campaign(args, work)
        if args.only in (None, "sync"):
            problems += sync_campaign(args, work)
    for line in problems:
        print(f"PROBLEM: {line}")
    print(f"{'no problem' if not problems else f'{len(problems)} problems'} in {time.monotonic() - start:.0f} s "
          f"(seed {args.seed})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
