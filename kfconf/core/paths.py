"""How messages name a file: relative to the user's working directory when it is inside it."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=8)
def _real(folder: str) -> str:
    return os.path.realpath(folder)  # the working directory: once per run, not once per file


def shown(path: Path | str, cwd: Path | str | None, real: bool = False) -> str:
    """`path` relative to `cwd` when inside it ("." for `cwd` itself), else as given.

    `real` compares the paths with symlinks resolved (a project reached through a link); otherwise the
    comparison is of the names as written, which costs no system call. Plain string work either way:
    this runs for every file of every project, and pathlib's relative_to costs more than the rest."""
    if cwd is None:
        return str(path)
    text = os.path.realpath(path) if real else os.fspath(path)
    base = _real(os.fspath(cwd)) if real else os.fspath(cwd)
    if text == base:
        return "."
    prefix = base if base.endswith(os.sep) else base + os.sep
    return text[len(prefix):] if text.startswith(prefix) else str(path)
