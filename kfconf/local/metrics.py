"""Katib's StdOut metrics collector, so a trial script reports the same way locally and in the cluster.

Katib's collector reads the trial container's stdout line by line and applies a filter regex; each match
is a `name=value` pair. The default filter (Katib ≥ 0.16) is `DEFAULT_FILTER`; a script prints, e.g.,
`epoch=3 val_auc=0.87 val_loss=0.41`. Values that do not parse as a number are ignored, as Katib does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
_DEFAULT_RE = re.compile(DEFAULT_FILTER)


def parse_line(line: str, pattern: re.Pattern[str] = _DEFAULT_RE,
               names: Iterable[str] | None = None) -> dict[str, float]:
    """The metrics on one line of output; with `names`, only those metrics (Katib's metric list)."""
    wanted = set(names) if names is not None else None
    out: dict[str, float] = {}
    for m in pattern.finditer(line):
        name, raw = m.group(1), m.group(2)
        if wanted is not None and name not in wanted:
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            out[name] = value
    return out


def compile_filter(expr: str | None) -> re.Pattern[str]:
    return _DEFAULT_RE if not expr else re.compile(expr)
