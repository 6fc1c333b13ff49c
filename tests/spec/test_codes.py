"""A golden case for every validation error code: the exact message and location `kfconf validate` prints.

Regenerate with KFCONF_UPDATE_GOLDEN=1 and review the diff of tests/spec/golden/codes/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kfconf.core.errors import CODES

GOLDEN = Path(__file__).parent / "golden" / "codes"
TESTS = Path(__file__).resolve().parents[1]

BASE = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata:
  name: demo
  owner: a@example.com
spec:
  profile:
    namespace: team-a
  images:
    trainer: ghcr.io/acme/train:1.0
  training:
    - name: train
      image: trainer
      command: [python, train.py]
      args: {lr: 0.1, epochs: 2}
  tuning:
    - name: hpo
      trial: training/train
      objective: {metric: acc, goal: maximize}
      algorithm: {name: random}
      parameters:
        lr: {type: double, min: 0.01, max: 0.5}
  pipelines:
    - name: main
      steps:
        - {name: a, run: training/train}
        - {name: b, run: tuning/hpo, after: [a]}
"""


def spec(old: str = "", new: str = "") -> str:
    assert not old or old in BASE
    return BASE.replace(old, new, 1) if old else BASE


def overlay(body: str) -> str:
    return "apiVersion: kfconf.dev/v1alpha1\nkind: Overlay\n" + body


# name → (files, env); each case makes exactly the mistake its name says
CASES: dict[str, tuple[dict[str, str | bytes], str | None]] = {
    "KF001-syntax": ({"ml-project.yaml": spec("  training:\n", "  training: [\n")}, None),
    "KF002-duplicate-key": ({"ml-project.yaml": spec("      image: trainer\n",
                                                      "      image: trainer\n      image: other\n")}, None),
    "KF003-too-deep": ({"ml-project.yaml": spec("  images:\n", "  images:\n" + "".join(
        "    " + "  " * i + f"k{i}:\n" for i in range(70)) + "    " + "  " * 70 + "v: 1\n")}, None),
    "KF004-not-utf8": ({"ml-project.yaml": spec().encode().replace(b"name: demo", b"name: d\xe9mo")}, None),
    "KF005-unreadable": ({"ml-project.yaml/.keep": ""}, None),
    "KF006-not-a-mapping": ({"ml-project.yaml": "- a\n- b\n"}, None),
    "KF007-not-finite": ({"ml-project.yaml": spec("max: 0.5", "max: .inf")}, None),
    "KF101-unknown-key": ({"ml-project.yaml": spec("      command:", "      comand:")}, None),
    "KF102-missing-key": ({"ml-project.yaml": spec("      trial: training/train\n", "")}, None),
    "KF103-wrong-type": ({"ml-project.yaml": spec("      args:", "      nodes: many\n      args:")}, None),
    "KF104-out-of-range": ({"ml-project.yaml": spec("      args:", "      nodes: 0\n      args:")}, None),
    "KF105-not-allowed": ({"ml-project.yaml": spec("algorithm: {name: random}", "algorithm: {name: randm}")}, None),
    "KF106-bad-name": ({"ml-project.yaml": spec("    - name: main\n", "    - name: Main_Pipeline\n")},
                       None),
    "KF107-duplicate-entry": ({"ml-project.yaml": spec("  tuning:\n", "    - {name: train, image: trainer, "
                                                       "command: [python, t.py]}\n  tuning:\n")}, None),
    "KF108-bad-format": ({"ml-project.yaml": spec("  owner: a@example.com", "  owner: a-at-example")}, None),
    "KF201-dangling-reference": ({"ml-project.yaml": spec("run: tuning/hpo", "run: tuning/hop")}, None),
    "KF202-cycle": ({"ml-project.yaml": spec("{name: a, run: training/train}",
                                             "{name: a, run: training/train, after: [b]}")}, None),
    "KF203-gpu-runtime": ({"ml-project.yaml": spec("      args:", "      runtime: cpu-only\n"
                                                   "      resources: {gpu: 1}\n      args:"),
                           "stacks/cpu.yaml": "apiVersion: kfconf.dev/v1alpha1\nkind: Stack\nmetadata: {name: cpu}\n"
                           "extends: kubeflow-latest\nruntimes:\n  training:\n    cpu-only: {framework: torch, "
                           "gpu: false}\n"}, None),
    "KF204-unused-parameter": ({"ml-project.yaml": spec("        lr: {type: double",
                                                        "        dropout: {type: double, min: 0.1, max: 0.5}\n"
                                                        "        lr: {type: double")}, None),
    "KF205-inconsistent": ({"ml-project.yaml": spec("{name: a, run: training/train}",
                                                    "{name: a, run: training/train, container: {image: x/y:1}}")},
                           None),
    "KF206-reserved-env": ({"ml-project.yaml": spec("      args:", "      env: {PET_NNODES: '3'}\n      args:")},
                           None),
    "KF207-escapes-project": ({"ml-project.yaml": spec("  training:\n", "  data:\n    - {name: prep, file: "
                                                       "../../etc/passwd}\n  training:\n")}, None),
    "KF208-literal-secret": ({"ml-project.yaml": spec("      args:", "      env: {API_TOKEN: hunter2}\n      args:")},
                             None),
    "KF209-platform-namespace": ({"ml-project.yaml": spec("namespace: team-a", "namespace: kube-system")}, None),
    "KF210-missing-file": ({"ml-project.yaml": spec("  training:\n", "  data:\n    - {name: prep, file: jobs/"
                                                    "prep.py}\n  training:\n")}, None),
    "KF301-unknown-env": ({"ml-project.yaml": spec(), "overlays/dev.yaml": overlay("extends: staging\n")}, "dev"),
    "KF302-extends-cycle": ({"ml-project.yaml": spec(), "overlays/a.yaml": overlay("extends: b\n"),
                             "overlays/b.yaml": overlay("extends: a\n")}, "a"),
    "KF303-unknown-builtin": ({"ml-project.yaml": spec(), "overlays/prod.yaml": overlay("include: [gpus]\n")},
                              "prod"),
    "KF304-bad-patch": ({"ml-project.yaml": spec(), "overlays/prod.yaml": overlay(
        "spec:\n  training:\n    - name: train\n      args: {$patch: remove}\n")}, "prod"),
    "KF305-unsupported": ({"ml-project.yaml": spec("algorithm: {name: random}", "algorithm: {name: darts}")}, None),
}


def run_case(name: str, tmp_path: Path) -> tuple[int, str]:
    files, env = CASES[name]
    root = tmp_path / name
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    if name == "KF203-gpu-runtime":
        p = root / "ml-project.yaml"
        p.write_text(p.read_text().replace("  profile:", "  stack: ./stacks/cpu.yaml\n  profile:"))
    cmd = [sys.executable, "-m", "kfconf.cli.main", "validate", "."] + (["-e", env] if env else [])
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_code_golden(name: str, tmp_path: Path) -> None:
    rc, out = run_case(name, tmp_path)
    code = name.split("-")[0]
    assert "Traceback" not in out
    assert f"[{code}]" in out, out
    assert rc == (1 if "error[" in out else 0)
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("KFCONF_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out)
    assert out == golden.read_text()


def test_every_code_has_a_test() -> None:
    """Validation codes have a golden case here; every other code is asserted somewhere in tests/."""
    covered = {name.split("-")[0] for name in CASES}
    text = "\n".join(p.read_text(errors="replace") for p in TESTS.rglob("*.py"))
    missing = [c for c in CODES if c not in covered and f'"{c}"' not in text and f"[{c}]" not in text]
    assert not missing, f"codes without a test: {missing}"
