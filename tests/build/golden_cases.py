"""The golden matrix: every example × environment (base + each overlay) × built-in cluster stack."""

from __future__ import annotations

from pathlib import Path

from kfconf.build import build_project
from kfconf.build.emit import dump_stream
from kfconf.core.errors import FindingsError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden"
STACKS = ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy")
BASE = "base"


def examples() -> list[str]:
    return sorted(p.parent.name for p in EXAMPLES.glob("*/ml-project.yaml"))


def envs(example: str) -> list[str]:
    return [BASE, *sorted(p.stem for p in (EXAMPLES / example / "overlays").glob("*.yaml"))]


def cases() -> list[tuple[str, str, str]]:
    return [(ex, st, env) for ex in examples() for st in STACKS for env in envs(ex)]


def build_text(example: str, stack: str, env: str) -> tuple[str | None, str]:
    """(YAML stream or None when the build fails, diagnostics text), as a user sees them from the repo root."""
    try:
        r = build_project(EXAMPLES / example, None if env == BASE else env, stack, cwd=ROOT)
    except FindingsError as e:
        return None, "".join(d.render() + "\n" for d in e.diagnostics)
    return dump_stream(r.resources), "".join(d.render() + "\n" for d in r.diagnostics)
