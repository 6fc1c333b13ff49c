"""`kfconf run [PATH] [TARGET]`: run a pipeline or one entry on this machine with real engines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

SECTIONS = ("data", "training", "tuning", "registry", "serving", "pipelines")


def add(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run the spec on this machine (pyspark, torchrun, Ray Tune, a local registry and server)",
        description="Run a pipeline or one entry of a project locally. With no TARGET the project's default "
                    "pipeline runs. Each run gets a folder .kfconf/runs/ID/ with one log per step.",
    )
    p.add_argument("path", nargs="?", metavar="PATH", help="the project folder or its ml-project.yaml (default: .)")
    p.add_argument("target", nargs="?", metavar="TARGET",
                   help="pipelines/NAME, data/NAME, training/NAME, tuning/NAME, registry/NAME or serving/NAME")
    p.add_argument("-e", "--env", help="environment overlay to apply (overlays/ENV.yaml)")
    p.add_argument("--stack", help="validate against this stack instead of the spec's")
    p.add_argument("--ray-address", metavar="ADDRESS", help="run tuning on an existing Ray cluster (ray.init address)")
    p.add_argument("--spark-master", metavar="MASTER",
                   help="run data jobs on this Spark master (default local[2]), e.g. spark://127.0.0.1:7077")
    p.add_argument("--force", action="store_true", help="run every step, even those whose inputs did not change")
    p.add_argument("--once", action="store_true",
                   help="stop started model servers when the steps are done instead of serving until Ctrl-C")
    p.add_argument("--port", type=int, help="port of the (first) model server; default 8080 if free, else any")
    p.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")


def split_args(path: str | None, target: str | None) -> tuple[str, str | None]:
    """`kfconf run training/x` names a target, `kfconf run examples/churn` a project."""
    if path is not None and target is None:
        section = path.partition("/")[0]
        if section in SECTIONS and "/" in path and not Path(path).exists():
            return ".", path
    return path or ".", target


def run(args: argparse.Namespace) -> int:
    from kfconf.build.pipeline import load_project
    from kfconf.cli.common import one_project
    from kfconf.local.context import Options
    from kfconf.local.runner import run_target

    path, target = split_args(args.path, args.target)
    project_dir = one_project(path)
    project, stack, _ = load_project(project_dir, args.env, args.stack, Path.cwd())
    options = Options(ray_address=args.ray_address, spark_master=args.spark_master, use_cache=not args.force,
                      keep_serving=not args.once, port=args.port)
    report = run_target(project, stack, target, env=args.env, options=options,
                        live=False if args.plain else None, out=sys.stdout)
    return 0 if report.ok else 2
