"""Publish under faults: 10 publisher processes racing 20 rounds each into one bare repository, and a
publisher SIGKILLed at random moments (20 times). Real git, real processes; the campaigns and their checks
are kfconf.testing.faults (tools/faults.py runs the longer ones and prints the counts for RELIABILITY.md).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from kfconf.testing.faults import (
    bare_repo,
    check_history,
    fsck,
    head,
    publish_kills,
    publish_race,
    race_plan,
    version,
)


def test_ten_publishers_twenty_rounds_lose_nothing(tmp_path: Path) -> None:
    """Eight publishers own a folder each, two fight over one; half move the branch in place, half push
    through a private cache. Every round of every publisher is a commit on one linear history, every commit
    holds whole folders and changes exactly one, and the final tree holds each publisher's last round."""
    repo = bare_repo(tmp_path / "gitops.git")
    res = publish_race(repo, publishers=10, rounds=20, cache=tmp_path / "cache")
    print(f"\npublish race: {res.publishers} publishers x {res.rounds} rounds -> {res.commits} commits in "
          f"{res.seconds:.1f} s; {res.attempts} attempts (max {res.max_attempts} for one publish); "
          f"attempts histogram {sorted(res.histogram.items())}", file=sys.stderr)
    assert res.problems == []
    assert res.commits == 10 * 20


def test_the_history_check_catches_a_lost_update_and_a_half_written_folder(tmp_path: Path) -> None:
    """The race's judge must be able to fail: a lost update, and a folder that mixes two rounds."""
    from kfconf.gitops.publish import SourceInfo, publish

    plan = race_plan(2, shared=0)
    repo = bare_repo(tmp_path / "gitops.git")
    src = SourceInfo("t", "a" * 40, False, "t", None, "s")
    made: dict[str, list[tuple[int, str | None]]] = {p.who: [] for p in plan}
    for rnd in range(2):
        for p in plan:
            made[p.who].append((rnd, publish(version(p.who, rnd, 6), repo=str(repo), path=p.path, branch="main",
                                             source=src).commit))
    assert check_history(repo, plan, made, 2, 6) == []

    # a commit reported but not on the branch: the branch moved back over it
    lost = dict(made)
    lost["p0"] = [*made["p0"][:1], (1, "f" * 40)]
    assert any("lost updates" in p for p in check_history(repo, plan, lost, 2, 6))

    # round 2 of p1 written with one file of round 1 left in it
    mixed = version("p1", 2, 6)
    stale = next(k for k in version("p1", 1, 6) if k.startswith("team/") and k in mixed)
    mixed[stale] = version("p1", 1, 6)[stale]
    made["p1"].append((2, publish(mixed, repo=str(repo), path="envs/p1", branch="main", source=src).commit))
    made["p0"].append((2, publish(version("p0", 2, 6), repo=str(repo), path="envs/p0", branch="main",
                                  source=src).commit))
    problems = check_history(repo, plan, made, 3, 6)
    assert any("envs/p1 is not one whole version" in p for p in problems), problems


def test_publisher_sigkilled_at_random_moments_leaves_a_consistent_repository(tmp_path: Path) -> None:
    """20 SIGKILLs at random delays over a publish's whole life (start-up, blobs, trees, commit, branch move,
    push), half of them to the whole process group (git children die too): after each, fsck is clean, the
    branch holds one whole version — the previous or the killed one's, nothing in between — and the next
    publish completes (clearing a ref lock a git child may have died holding)."""
    repo = bare_repo(tmp_path / "gitops.git")
    res = publish_kills(repo, kills=20, seed=20260509, files=300, cache=tmp_path / "cache")
    print(f"\npublish kills: {res.kills} SIGKILLs ({res.group_kills} of the process group; {dict(res.modes)}) in "
          f"{res.seconds:.1f} s: {res.before_commit} left the previous version, {res.landed} had landed, "
          f"{res.finished} finished before the kill; {res.locks_left} left a ref lock (cleared by the next publish); "
          f"next publish completed {res.next_ok}/{res.kills}",
          file=sys.stderr)
    assert res.problems == []
    assert res.kills == 20 and res.next_ok == 20
    # the delays really spread over the publish: some kills stopped it before the branch moved
    assert res.before_commit >= 3, res
    assert fsck(repo) == [] and head(repo) is not None


@pytest.mark.parametrize("push", [False, True], ids=["local-cas", "push"])
@pytest.mark.parametrize("lock", ["HEAD.lock", "refs/heads/main.lock"])
def test_a_ref_lock_left_by_a_killed_git_is_cleared_a_live_one_respected(tmp_path: Path, push: bool, lock: str,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A git process SIGKILLed while it moves the branch leaves its lock file; git then refuses every update
    until somebody removes it. publish clears a lock older than STALE_LOCK_S, and leaves a younger one alone
    (its holder may be alive)."""
    from kfconf.core.errors import ExternalError
    from kfconf.gitops.publish import STALE_LOCK_S, SourceInfo, publish

    repo = bare_repo(tmp_path / "gitops.git")
    src = SourceInfo("t", "a" * 40, False, "t", None, "s")

    def pub(rnd: int, retries: int = 60) -> str | None:
        return publish(version("p", rnd, 4), repo=str(repo), path="envs/p", branch="main", source=src, push=push,
                       cache_dir=tmp_path / "cache", retries=retries).commit

    pub(0)
    held = repo / lock
    held.write_text("")  # the state a SIGKILL in the middle of git's ref update leaves behind
    with pytest.raises(ExternalError):
        pub(1, retries=2)  # a young lock: its holder may be alive, it is not touched
    assert held.exists()
    past = time.time() - STALE_LOCK_S - 5
    os.utime(held, (past, past))
    commit = pub(1)
    assert commit is not None and head(repo) == commit and not held.exists()
    assert f"removed {held}" in capsys.readouterr().err
    assert fsck(repo) == []
