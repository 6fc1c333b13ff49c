"""Kubernetes quantities (`500m`, `4Gi`, `1e3`) and Spark memory sizes (`4g`, `512m`) as Decimals."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

_SPARK = re.compile(r"^([0-9]+)([kmgtp]?)b?$", re.I)
_SPARK_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


@cache
def _parse(text: str) -> Decimal | None:
    # The Kubernetes client's own parser; imported here so that `import kfconf` stays light.
    from kubernetes.utils.quantity import parse_quantity

    try:
        return Decimal(parse_quantity(text))
    except (ValueError, InvalidOperation, TypeError):
        return None


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity, or None when VALUE is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        return _parse(value.strip())
    return None


def spark_memory(value: Any) -> Decimal | None:
    """Spark's JVM sizes are binary: `4g` is 4 GiB, a bare number is bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        m = _SPARK.match(value.strip())
        if m:
            return Decimal(int(m.group(1)) * _SPARK_UNITS[m.group(2).lower()])
    return None


def fmt_cpu(cores: Decimal) -> str:
    """Cores with at most three decimals (a millicore), no trailing zeros: 52, 0.5, 2.25."""
    q = cores.quantize(Decimal("0.001"))
    text = format(q.normalize(), "f")
    return text if text not in ("-0",) else "0"


def fmt_memory(n: Decimal) -> str:
    """Bytes in the largest binary unit that keeps one decimal honest: 256Gi, 1.5Gi, 512Mi, 0."""
    if n == 0:
        return "0"
    sign = "-" if n < 0 else ""
    a = abs(n)
    for unit, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if a >= size:
            v = (a / size).quantize(Decimal("0.1"))
            text = format(v.normalize(), "f")
            return f"{sign}{text}{unit}"
    return f"{sign}{a:f}"


def fmt_gpu(n: Decimal) -> str:
    return format(n.normalize(), "f") if n != 0 else "0"
