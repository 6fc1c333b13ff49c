"""`python -m bench [--quick] [--only NAME…] [--json FILE]`: the whole benchmark suite from one command.

Every benchmark module exposes `run(quick: bool) -> list[dict]` (rows as described in bench/harness.py).
A module that is missing, fails to import or raises is reported as "not run" with the reason — never as
passing. The table goes to stdout (Markdown), progress to stderr; --json keeps every field and the machine.
Exit 0 when every selected benchmark ran (met or not), 1 when one did not run, 2 on wrong usage.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from typing import Any

from bench import harness

# name → module; order is the order of the report
BENCHMARKS: dict[str, str] = {
    "startup": "bench.startup_bench",
    "validate": "bench.validate_bench",
    "build": "bench.build_bench",
    "check": "bench.check_bench",
    "incremental": "bench.incremental_bench",
    "scaling": "bench.scaling_bench",
    "diff": "bench.diff_bench",
    "sync": "bench.sync_bench",
    "local": "bench.local_bench",
}


def run_one(name: str, quick: bool) -> list[dict[str, Any]]:
    module = BENCHMARKS[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            return [harness.not_run(name, f"{module.replace('.', '/')}.py is missing")]
        return [harness.not_run(name, f"import failed: {type(e).__name__}: {e}")]
    except Exception as e:
        return [harness.not_run(name, f"import failed: {type(e).__name__}: {e}")]
    fn = getattr(mod, "run", None)
    if not callable(fn):
        return [harness.not_run(name, f"{module} has no run(quick) function")]
    try:
        rows = fn(quick)
    except Exception as e:
        detail = traceback.format_exc(limit=-3)
        print(detail, file=sys.stderr)
        out = harness.not_run(name, f"failed: {type(e).__name__}: {str(e)[:300]}")
        out["status"] = "failed"
        return [out]
    if not isinstance(rows, list) or not rows:
        return [harness.not_run(name, "run() returned no rows")]
    good = [harness.normalize(r) if isinstance(r, dict) else harness.not_run(name, f"row is not a dict: {r!r}")
            for r in rows]
    for r in good:
        r.setdefault("benchmark", name)
    return good


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def _secs(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def _cell(text: Any, limit: int = 240) -> str:
    flat = " ".join(str(text).split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | kfconf (CPU) | peer or floor | peer (CPU) | ratio | target | met | wall ratio "
             "| spread k/p | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status") != "ok":
            met = f"**{r.get('status', 'not run')}**"
            note = r.get("reason", "")
        else:
            met = {True: "yes", False: "**no**", None: "—"}[r.get("met")]
            note = r.get("note", "")
        spread = f"{_num(r.get('spread'), 2)}/{_num(r.get('peer_spread'), 2)}" if r.get("spread") is not None else "—"
        unit = r.get("unit", "s")
        kf = _secs(r.get("kfconf_s")) if unit == "s" else _num(r.get("kfconf_s"))
        pe = _secs(r.get("peer_s")) if unit == "s" else _num(r.get("peer_s"))
        ratio = f"{r['ratio']:.3g}×" if r.get("ratio") is not None else "—"
        wall = f"{r['wall_ratio']:.3g}×" if r.get("wall_ratio") is not None else "—"
        lines.append(f"| {r['name']} | {kf} | {r.get('peer') or '—'} | {pe} | {ratio} | {r.get('target') or '—'} "
                     f"| {met} | {wall} | {spread} | {_cell(note)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small inputs, few repetitions: a smoke run")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=list(BENCHMARKS),
                   help=f"run only these ({', '.join(BENCHMARKS)})")
    p.add_argument("--json", metavar="FILE", help="write every row, the machine and the command as JSON")
    args = p.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    command = "python -m bench" + (" " + " ".join(sys.argv[1:] if argv is None else argv)).rstrip()
    machine = harness.machine()
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for name in names:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        t = time.perf_counter()
        got = run_one(name, args.quick)
        rows.extend(got)
        for r in got:
            state = r.get("status") if r.get("status") != "ok" else f"ratio {_num(r.get('ratio'))} {r.get('target')}"
            print(f"bench:   {r['name']}: {state} {r.get('reason', '')}".rstrip(), file=sys.stderr, flush=True)
        print(f"bench: {name} took {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - t0
    sys.stdout.write(table(rows))
    print(f"\nmachine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, {machine['os']}, "
          f"Python {machine['python']}, commit {machine['commit']}; suite took {total:.0f} s\n"
          f"command: {command}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"command": command, "machine": machine, "seconds": total, "rows": rows}, fh, indent=2,
                      default=str)
            fh.write("\n")
    return 0 if all(r.get("status") == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
