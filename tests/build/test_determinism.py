"""Same input, same bytes; `kfconf build -o DIR` writes a tree whose kustomization lists every file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def kfconf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kfconf.cli.main", *args], cwd=cwd, capture_output=True, text=True)


def test_two_builds_are_byte_identical() -> None:
    """Separate processes (separate hash seeds, caches and dict orders) give the same stream."""
    runs = [kfconf("build", "examples/llm-finetune", "-e", "prod", "--stack", "kubeflow-latest") for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout and runs[0].stdout == runs[1].stdout


def test_tree_output_lists_every_file_in_its_kustomization(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = kfconf("build", "examples/llm-finetune", "-e", "dev", "--stack", "kubeflow-latest", "-o", str(out))
    assert r.returncode == 0, r.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml") if p.name != "kustomization.yaml")
    kust = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization" and sorted(kust["resources"]) == files and files
    stream = kfconf("build", "examples/llm-finetune", "-e", "dev", "--stack", "kubeflow-latest").stdout
    bodies = [d for d in yaml.safe_load_all(stream) if d]
    assert sorted(yaml.safe_load((out / f).read_text())["metadata"]["name"] for f in files) == \
        sorted(b["metadata"]["name"] for b in bodies)
    second = tmp_path / "again"
    kfconf("build", "examples/llm-finetune", "-e", "dev", "--stack", "kubeflow-latest", "-o", str(second))
    def tree(d: Path) -> dict[str, bytes]:
        return {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file()}

    assert tree(out) == tree(second)
