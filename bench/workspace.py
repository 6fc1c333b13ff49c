"""Generated projects shared by the benchmarks of one suite run (generated once, removed at exit)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from bench.generator import generate

SEED = 20260401
_root: Path | None = None
_made: dict[tuple[int, int], list[Path]] = {}


def root() -> Path:
    """A scratch folder for this run: $KFCONF_BENCH_DIR if set (kept), else a temporary one (removed)."""
    global _root
    if _root is None:
        given = os.environ.get("KFCONF_BENCH_DIR")
        if given:
            _root = Path(given).resolve()
            _root.mkdir(parents=True, exist_ok=True)
        else:
            _root = Path(tempfile.mkdtemp(prefix="kfconf-bench-"))
            atexit.register(shutil.rmtree, _root, True)
    return _root


def projects(n: int, seed: int = SEED) -> list[Path]:
    """N generated projects (folders), the same ones for every benchmark that asks for them."""
    key = (n, seed)
    if key not in _made:
        folder = root() / f"projects-{n}-{seed}"
        shutil.rmtree(folder, ignore_errors=True)
        _made[key] = generate(folder, n, seed)
    return _made[key]


def scratch(name: str) -> Path:
    """An empty folder of this run."""
    d = root() / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def input_files(project: Path) -> list[Path]:
    """The files a validate or build of every environment reads: the spec and every overlay."""
    overlays = sorted((project / "overlays").glob("*.yaml")) if (project / "overlays").is_dir() else []
    return [project / "ml-project.yaml", *overlays]
