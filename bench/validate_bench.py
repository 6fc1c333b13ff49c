"""validate N projects (base + every environment), against the floor of composing the same files with libyaml.

kfconf side: exactly what `kfconf validate DIR` does per project (kfconf.cli.validate.validate_project: load,
resolve each environment's overlay chain, schema + semantic checks), minus argument parsing and printing.
Floor: read every input file once and compose it into YAML nodes with libyaml's C composer
(`yaml.compose(text, Loader=yaml.CSafeLoader)`), which keeps line and column like kfconf's loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench import harness, workspace

TARGET = harness.le(3)


def run(quick: bool) -> list[dict[str, Any]]:
    from kfconf.cli.validate import validate_project

    n = 20 if quick else 200
    reps = 2 if quick else 15
    projects = workspace.projects(n)
    files = [f for p in projects for f in workspace.input_files(p)]
    cwd = Path.cwd()
    errors: list[str] = []

    def kfconf() -> None:
        for p in projects:
            for d in validate_project(p, None, cwd):
                if d.severity.value == "error":
                    errors.append(d.render())

    def floor() -> None:
        for f in files:
            yaml.compose(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)

    k, f = harness.compare(kfconf, floor, reps, warmup=1)
    if errors:
        raise RuntimeError(f"generated projects do not validate: {errors[0]}")
    return [harness.row(f"validate {n} projects × (base + 3 envs)", k, "floor: libyaml compose of the same files", f,
                        TARGET, unit="s", files=len(files),
                        note=f"{len(files)} files; per project {k.median / n * 1000:.2f} ms")]
