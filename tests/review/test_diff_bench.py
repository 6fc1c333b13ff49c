"""The diff benchmark's premise, on a small generated monorepo: its change shows in the measured environment
and only the changed project is affected (so the benchmark measures what it says)."""

from __future__ import annotations

from bench import diff_bench
from kfconf.review.compare import compare


def test_the_benchmark_change_is_seen_and_only_its_project_is_rendered() -> None:
    repo, target, what = diff_bench.make_repo(8)
    report = compare(repo, "HEAD~1", "HEAD", [diff_bench.ENV])
    rel = target.relative_to(repo).as_posix()
    assert report.projects == 8 and report.affected == [rel]
    assert report.exit_code() == 1, what
    [section] = report.sections
    assert section.env == diff_bench.ENV and section.changes
    assert any("BENCH_FEATURE_FLAG" in f.path or "BENCH_FEATURE_FLAG" in str(f.after)
               for c in section.changes for f in c.fields)
