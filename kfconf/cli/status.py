"""`kfconf status -n NS`: per resource, what the syncer last did (applied, drifted, pruned …) and its health."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kfconf.cli.sync import add_cluster_args


def add(sub: Any) -> None:
    p = sub.add_parser("status", help="what the syncer last did to each object, and each object's health")
    p.add_argument("-n", "--namespace", required=True, help="the project's namespace (where its inventory lives)")
    p.add_argument("--project", help="only this project")
    p.add_argument("--env", help="only this environment")
    p.add_argument("--no-refresh", dest="refresh", action="store_false",
                   help="show the health recorded at the last reconcile instead of reading the objects now")
    add_cluster_args(p)
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from kfconf.cli.common import dump_json
    from kfconf.sync.health import build_registry
    from kfconf.sync.kube import connect
    from kfconf.sync.status import collect

    kube = connect(args.kubeconfig, args.context, impersonate=args.impersonate)
    found = collect(kube, build_registry(), args.namespace, args.project, args.env, args.refresh)
    if args.output == "json":
        dump_json([s.to_json() for s in found])
    else:
        for s in found:
            sys.stdout.write(s.text())
    if not found:
        print(f"kfconf status: no kfconf inventory in namespace {args.namespace}"
              + (f" for project {args.project}" if args.project else ""), file=sys.stderr)
        return 1
    return 0 if all(s.ok for s in found) else 1
