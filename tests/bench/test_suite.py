"""`python -m bench`: runs from one command, writes well-formed rows, never reports a missing or failing
benchmark as passing. Behaviour only — no assertion on any timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as suite
from bench import harness

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_writes_well_formed_rows(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    p = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "startup", "validate", "--json", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["command"] == f"python -m bench --quick --only startup validate --json {out}"
    assert data["machine"]["cores"] >= 1
    rows = data["rows"]
    assert {r["benchmark"] for r in rows} == {"startup", "validate"}
    for r in rows:
        assert set(harness.REQUIRED) <= r.keys()
        assert r["status"] == "ok"
        assert r["kfconf_s"] > 0 and r["peer_s"] > 0
        assert r["ratio"] == pytest.approx(r["kfconf_s"] / r["peer_s"])
        assert r["met"] is ((r["ratio"] <= 3) if r["target"] else None)
    assert sum(bool(r["target"]) for r in rows) == 2  # one headline row per benchmark carries the target
    startup = next(r for r in rows if r["benchmark"] == "startup")
    assert startup["heavy_modules"] == []  # validate imports none of the heavy engines
    assert "| benchmark |" in p.stdout and "command: python -m bench" in p.stdout


def test_missing_and_failing_benchmarks_are_not_passing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "bench_failing.py").write_text("def run(quick):\n    raise ValueError('boom')\n")
    (tmp_path / "bench_empty.py").write_text("def run(quick):\n    return []\n")
    (tmp_path / "bench_partial.py").write_text("def run(quick):\n    return [{'name': 'x', 'kfconf_s': 1.0}]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(suite.BENCHMARKS, "ghost", "bench.ghost_bench")
    monkeypatch.setitem(suite.BENCHMARKS, "failing", "bench_failing")
    monkeypatch.setitem(suite.BENCHMARKS, "empty", "bench_empty")
    monkeypatch.setitem(suite.BENCHMARKS, "partial", "bench_partial")
    for name, status, reason in [("ghost", "not run", "bench/ghost_bench.py is missing"),
                                 ("failing", "failed", "ValueError: boom"),
                                 ("empty", "not run", "no rows"),
                                 ("partial", "not run", "missing peer")]:
        rows = suite.run_one(name, quick=True)
        assert len(rows) == 1
        assert rows[0]["status"] == status
        assert rows[0]["met"] is None
        assert reason in rows[0]["reason"]
        assert "**" + status in suite.table(rows)


def test_rows_from_other_modules_get_met_from_their_target() -> None:
    row: dict[str, Any] = {"name": "diff", "kfconf_s": 2.0, "peer": "p", "peer_s": 1.0, "ratio": None,
                           "target": "≤ 3×"}
    assert harness.normalize(row)["ratio"] == 2.0
    assert harness.normalize(row)["met"] is True
    assert harness.normalize({**row, "target": "< 1x"})["met"] is False
    assert harness.normalize({**row, "target": "faster"})["met"] is None
    assert harness.met(0.05, "≤ 0.05×") is True and harness.met(0.051, "≤ 0.05×") is False
