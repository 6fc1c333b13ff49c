"""Thirty-three mistakes in one spec: one run reports each once, at its line, with the right code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.spec.mistakes import MISTAKES

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "thirty-three-mistakes.txt"


def mutated() -> tuple[str, list[tuple[int, str]]]:
    src = (ROOT / "examples/churn/ml-project.yaml").read_text()
    text = src
    for old, _, _ in MISTAKES:
        assert src.count(old) == 1, f"mistake anchor not unique: {old!r}"
    for old, new, _ in MISTAKES:
        text = text.replace(old, new)
    expected = []
    for _, new, code in MISTAKES:
        at = text.index(new)
        # an inserted line reports at the line it adds, a changed line at its own line
        line = text.count("\n", 0, at) + 1 + (new.startswith("\n"))
        expected.append((line, code))
    return text, expected


def test_each_mistake_is_reported_once_at_its_line(tmp_path: Path) -> None:
    text, expected = mutated()
    (tmp_path / "ml-project.yaml").write_text(text)
    proc = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "validate", "."], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    found = []
    for line in proc.stderr.splitlines():
        if line.startswith("ml-project.yaml:"):
            _, ln, _col, rest = line.split(":", 3)
            code = rest.split("[", 1)[1].split("]", 1)[0]
            found.append((int(ln), code))
    assert sorted(found) == sorted(expected)
    assert len({ln for ln, _ in expected}) == len(MISTAKES), "every mistake is on a line of its own"
    if os.environ.get("KFCONF_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(proc.stderr)
    assert proc.stderr == GOLDEN.read_text()
