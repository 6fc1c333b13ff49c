"""Golden build outputs (DESIGN §10): tests/golden/<example>/<stack>/<env>.yaml, byte for byte.

A build that fails is golden too: its diagnostics go to <env>.diagnostics.txt (so does any warning of
a build that succeeds). `pytest tests/test_golden.py --update-golden` rewrites them; review the diff.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.build.golden_cases import GOLDEN, build_text, cases


def _compare(path: Path, actual: str | None, update: bool) -> str | None:
    """None when equal (or updated); else a unified diff."""
    if update:
        if actual is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        return None
    expected = path.read_text(encoding="utf-8") if path.exists() else None
    if expected == actual:
        return None
    diff = difflib.unified_diff((expected or "").splitlines(keepends=True), (actual or "").splitlines(keepends=True),
                                f"{path} (golden{'' if expected is not None else ', missing'})",
                                f"{path} (this build{'' if actual is not None else ': none'})")
    return "".join(diff) or f"{path}: expected {'a file' if expected is not None else 'no file'}"


@pytest.mark.parametrize(("example", "stack", "env"), cases(), ids=lambda v: str(v))
def test_golden(example: str, stack: str, env: str, update_golden: bool) -> None:
    stream, diags = build_text(example, stack, env)
    folder = GOLDEN / example / stack
    problems = [d for d in (_compare(folder / f"{env}.yaml", stream, update_golden),
                            _compare(folder / f"{env}.diagnostics.txt", diags or None, update_golden)) if d]
    if problems:
        pytest.fail("build output differs from the golden file (run with --update-golden and review the diff):\n"
                    + "\n".join(problems), pytrace=False)


def test_every_golden_file_belongs_to_a_case() -> None:
    """A golden file left behind by a removed example, stack or overlay is an error, not silence."""
    wanted = {GOLDEN / ex / st / f"{env}{suffix}"
              for ex, st, env in cases() for suffix in (".yaml", ".diagnostics.txt")}
    stray = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file() and p not in wanted)
    assert not stray, f"golden files of no case: {stray}"
    assert any(GOLDEN.rglob("*.yaml")), "no golden build outputs: run pytest tests/test_golden.py --update-golden"
