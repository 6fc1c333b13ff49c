"""Hostile input: each gets a clear, located error in bounded time and memory — never a traceback.

Each case runs `kfconf validate` in a fresh process; the test asserts the exit code, the error code in
the output, no traceback, and the child's peak memory below 500 MB. The subprocess timeout is a guard
against hangs, not a timing assertion; RELIABILITY.md records the measured times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "examples" / "churn"
MEMORY_LIMIT_MB = 500


# The child reports its own peak (VmHWM starts afresh at exec; rusage would carry the test process's peak).
RUNNER = """
import sys
from kfconf.cli.main import main
try:
    rc = main(sys.argv[1:])
finally:
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
    sys.stderr.write(f"\\nPEAK_RSS_KB={hwm}\\n")
sys.exit(rc)
"""


def run_validate(project: Path) -> tuple[int, str, float]:
    proc = subprocess.run([sys.executable, "-c", RUNNER, "validate", str(project)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    out, _, peak = proc.stderr.rpartition("PEAK_RSS_KB=")
    return proc.returncode, out + proc.stdout, int(peak.strip()) / 1024


def project_with(tmp_path: Path, spec: bytes | str) -> Path:
    d = tmp_path / "p"
    d.mkdir()
    (d / "ml-project.yaml").write_bytes(spec.encode() if isinstance(spec, str) else spec)
    return d


def churn_with(tmp_path: Path, old: str, new: str) -> Path:
    d = tmp_path / "churn"
    shutil.copytree(CHURN, d, ignore=shutil.ignore_patterns(".kfconf"))
    text = (d / "ml-project.yaml").read_text()
    assert old in text
    (d / "ml-project.yaml").write_text(text.replace(old, new, 1))
    return d


def billion_laughs() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CASES = {
    "billion-laughs": (lambda t: project_with(t, billion_laughs()), "KF003"),
    "deep-flow-nesting": (lambda t: project_with(t, "[" * 10_000 + "]" * 10_000), "KF003"),
    "deep-block-nesting": (lambda t: project_with(t, "".join("  " * i + f"k{i}:\n" for i in range(10_000))), "KF003"),
    "fifty-megabytes": (lambda t: project_with(t, "a: " + "x" * (50 * 1024 * 1024) + "\n"), "KF003"),
    "invalid-utf8": (lambda t: project_with(t, b"apiVersion: kfconf.dev/v1alpha1\nkind: \xff\xfe\n"), "KF004"),
    "tabs": (lambda t: project_with(t, "apiVersion: kfconf.dev/v1alpha1\nkind: MLProject\nmetadata:\n\tname: x\n"),
             "KF001"),
    "duplicate-keys": (lambda t: churn_with(t, "  stack: kubeflow-latest\n",
                                           "  stack: kubeflow-latest\n  stack: kubeflow-26.03\n"), "KF002"),
    "nan": (lambda t: churn_with(t, "nodes: 2", "nodes: .nan"), "KF007"),
    "inf": (lambda t: churn_with(t, "target: 0.92", "target: .inf"), "KF007"),
    "1e400": (lambda t: churn_with(t, "target: 0.92", "target: 1e400"), "KF007"),
    "huge-int": (lambda t: churn_with(t, "nodes: 2", "nodes: " + "9" * 20_000), "KF007"),
    "big-int-in-range-field": (lambda t: churn_with(t, "nodes: 2", "nodes: 99999999999999999999"), "KF104"),
    "dotdot-escape": (lambda t: churn_with(t, "file: jobs/features.py", "file: ../../etc/passwd"), "KF207"),
    "absolute-path": (lambda t: churn_with(t, "file: jobs/features.py", "file: /etc/passwd"), "KF207"),
    "platform-namespace": (lambda t: churn_with(t, "namespace: team-growth", "namespace: kube-system"), "KF209"),
    "stack-file-outside": (lambda t: churn_with(t, "stack: kubeflow-latest", "stack: ../../../etc/stack.yaml"),
                           "KF207"),
    "not-a-mapping": (lambda t: project_with(t, "- just\n- a list\n"), "KF006"),
    "binary-garbage": (lambda t: project_with(t, bytes(range(256)) * 64), "KF004"),
    "control-characters": (lambda t: project_with(t, "a: \x00\x01\x02\n"), "KF001"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_gets_a_clear_error(name: str, tmp_path: Path) -> None:
    make, code = CASES[name]
    rc, out, peak_mb = run_validate(make(tmp_path))
    assert rc == 1, out
    assert "Traceback" not in out and "internal error" not in out
    assert f"[{code}]" in out, out[:2000]
    first = next(line for line in out.splitlines() if "error[" in line)
    assert first.split(":")[1].isdigit() and first.split(":")[2].isdigit(), "every error has a line and column"
    assert peak_mb < MEMORY_LIMIT_MB


def test_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("print('secret')\n")
    d = churn_with(tmp_path, "file: jobs/features.py", "file: jobs/link.py")
    (d / "jobs").mkdir(exist_ok=True)
    (d / "jobs" / "link.py").symlink_to(outside)
    rc, out, _ = run_validate(d)
    assert rc == 1 and "[KF207]" in out and "jobs/link.py" in out


def test_literal_secret_value_is_never_echoed(tmp_path: Path) -> None:
    secret = "sk-live-" + "A1b2C3d4" * 4
    d = churn_with(tmp_path, "FEATURES: features", f"DB_PASSWORD: {secret}")
    rc, out, _ = run_validate(d)
    assert rc == 1 and "[KF208]" in out
    assert secret not in out
