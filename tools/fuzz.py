"""The long fuzz campaign (outside the test suite): `python tools/fuzz.py --cases 100000 --seed 7`.

Mutates the examples' specs and overlays and runs load → merge → validate → build → check on each;
stops at the first crash and prints the seed and case number to replay. Prints counts and timings.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kfconf.testing.fuzz import run_cases  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--chunk", type=int, default=1000)
    args = p.parse_args()
    examples = sorted(q.parent for q in (ROOT / "examples").glob("*/ml-project.yaml"))
    totals = {"ok": 0, "findings": 0}
    start = time.monotonic()
    for chunk in range(0, args.cases, args.chunk):
        n = min(args.chunk, args.cases - chunk)
        counts = run_cases(examples, n, args.seed * 100_000 + chunk // args.chunk)
        for k, v in counts.items():
            totals[k] += v
        done = chunk + n
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{done} cases, {totals}, {time.monotonic() - start:.0f} s, peak RSS {rss:.0f} MB", flush=True)
    print(f"no crash in {args.cases} cases (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
