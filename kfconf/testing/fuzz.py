"""Fuzzing the compile pipeline: mutations of real specs and overlays, and arbitrary YAML.

Shared by the test suite (a few thousand cases) and `tools/fuzz.py` (the long run). The property: for
any input, load → merge → validate → build → check either succeeds or raises FindingsError whose every
diagnostic has a code and a location — never another exception.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kfconf.core.errors import CODES, FindingsError

SCALARS: list[Any] = [None, True, False, 0, -1, 1, 2**31, 2**64, 0.5, -0.0, 1e300, "", "x", "Name", "a" * 300,
                      "../../etc/passwd", "/abs", "s3://b/k", "training/x", "registry/nope", "${x}", "{{ y }}",
                      "*", "$patch", "-", "0 2 * * *", "ü", "\u202e", "1e400", "yes", "on", "null", "~"]
KEYS = ["name", "nodes", "procsPerNode", "image", "runtime", "args", "$patch", "extends", "include", "spec",
        "replicas", "canary", "percent", "after", "steps", "run", "trial", "from", "model", "format", "zz", ""]


def mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """One random structural or value mutation somewhere inside `value`."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(sorted(value, key=str))
        choice = rng.random()
        out = dict(value)
        if choice < 0.15:
            del out[key]
        elif choice < 0.25:
            out[rng.choice(KEYS)] = rng.choice(SCALARS)
        elif choice < 0.35:
            out[key[:-1] or "k"] = out.pop(key)  # a typo
        else:
            out[key] = mutate(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        choice = rng.random()
        out_list = list(value)
        if choice < 0.2:
            del out_list[i]
        elif choice < 0.35:
            out_list.append(value[i])  # a duplicate entry
        else:
            out_list[i] = mutate(value[i], rng, depth + 1)
        return out_list
    kinds: list[Callable[[], Any]] = [
        lambda: rng.choice(SCALARS),
        lambda: [rng.choice(SCALARS)],
        lambda: {rng.choice(KEYS): rng.choice(SCALARS)},
        lambda: {"$patch": rng.choice(["delete", "replace", "merge", "bogus"])},
    ]
    return rng.choice(kinds)()


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


def check_outcome(project_dir: Path, env: str | None) -> str:
    """Run the whole pipeline; return 'ok' or 'findings', raise on anything else."""
    from kfconf.build import build_project

    try:
        build_project(project_dir, env)
        return "ok"
    except FindingsError as e:
        for d in e.diagnostics:
            if d.code not in CODES or d.loc is None or d.loc.line < 1 or d.loc.col < 1:
                raise AssertionError(f"diagnostic without a code or location: {d.render()}") from e
        return "findings"


def mutated_project(example: Path, rng: random.Random, work: Path) -> tuple[Path, str | None]:
    """Copy an example and mutate its spec or one of its overlays (1–3 mutations)."""
    target = work / f"p{rng.randrange(1 << 30)}"
    shutil.copytree(example, target, ignore=shutil.ignore_patterns(".kfconf", "*.pyc"))
    files = [target / "ml-project.yaml", *sorted((target / "overlays").glob("*.yaml"))]
    victim = rng.choice(files)
    data = yaml.safe_load(victim.read_text())
    for _ in range(rng.randint(1, 3)):
        data = mutate(data, rng)
    victim.write_text(dump(data))
    envs = [None, *sorted(p.stem for p in (target / "overlays").glob("*.yaml"))]
    return target, rng.choice(envs)


def run_cases(examples: list[Path], n: int, seed: int) -> dict[str, int]:
    """n mutation cases; returns outcome counts. Raises on the first crash, naming the seed to replay."""
    counts = {"ok": 0, "findings": 0}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(n):
            rng = random.Random(seed * 1_000_003 + i)
            project, env = mutated_project(rng.choice(examples), rng, work)
            try:
                counts[check_outcome(project, env)] += 1
            except Exception as e:
                raise AssertionError(f"case seed={seed} i={i} env={env}: {type(e).__name__}: {e}") from e
            shutil.rmtree(project, ignore_errors=True)
    return counts
