"""`kfconf registry ls|show`: the project's local model registry (`.kfconf/registry.db`)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("registry", help="list and show the models `kfconf run` registered locally",
                       description="The local model registry of a project (.kfconf/registry.db): registered "
                                   "models, their versions and model artifacts, named as in the Kubeflow Model "
                                   "Registry REST API.")
    verbs = p.add_subparsers(dest="registry_verb", metavar="ls|show", required=True)
    ls = verbs.add_parser("ls", help="list registered models")
    ls.add_argument("path", nargs="?", default=".", metavar="PATH", help="the project (default: .)")
    ls.add_argument("-o", "--output", choices=["text", "json"], default="text")
    show = verbs.add_parser("show", help="show one model: its versions and artifacts")
    show.add_argument("name", metavar="NAME")
    show.add_argument("path", nargs="?", default=".", metavar="PATH", help="the project (default: .)")
    show.add_argument("--version", help="only this version")
    show.add_argument("-o", "--output", choices=["text", "json"], default="text")


def _time(ms: str) -> str:
    return datetime.fromtimestamp(int(ms) / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(a: dict[str, Any]) -> str:
    name, version = a.get("modelFormatName"), a.get("modelFormatVersion")
    return f"{name}:{version}" if name and version else (name or "-")


def _prop(v: dict[str, Any]) -> str:
    from kfconf.local.registry import untyped

    return str(untyped(v))


def run(args: argparse.Namespace) -> int:
    from kfconf.cli.common import dump_json, one_project
    from kfconf.core.errors import UsageError
    from kfconf.local.registry import RegistryStore

    store = RegistryStore.for_project(one_project(args.path))
    if args.registry_verb == "ls":
        models = store.models()
        if args.output == "json":
            dump_json({"items": models, "size": len(models)})
            return 0
        if not models:
            print(f"no registered models in {store.path}", file=sys.stderr)
            return 0
        rows = [("NAME", "VERSIONS", "LATEST", "FORMAT", "UPDATED", "URI")]
        for m in models:
            latest = max(m["versions"], key=lambda v: (int(v["lastUpdateTimeSinceEpoch"]), int(v["id"])),
                         default=None)
            art = latest["artifacts"][-1] if latest and latest["artifacts"] else {}
            rows.append((m["name"], str(len(m["versions"])), latest["name"] if latest else "-", _fmt(art),
                         _time(m["lastUpdateTimeSinceEpoch"]), art.get("uri", "-")))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
        return 0

    model = store.model(args.name)
    if model is None:
        known = ", ".join(m["name"] for m in store.models()) or "none"
        raise UsageError(f"no registered model named {args.name!r} in {store.path} (registered: {known})")
    if args.version:
        model["versions"] = [v for v in model["versions"] if v["name"] == args.version]
        if not model["versions"]:
            raise UsageError(f"model {args.name} has no version {args.version!r}")
    if args.output == "json":
        dump_json(model)
        return 0
    print(f"RegisteredModel {model['name']} (id {model['id']}, {model['state']})")
    if model.get("owner"):
        print(f"  owner:   {model['owner']}")
    print(f"  updated: {_time(model['lastUpdateTimeSinceEpoch'])}")
    for v in model["versions"]:
        print(f"  ModelVersion {v['name']} (id {v['id']}, {v['state']})")
        if v.get("author"):
            print(f"    author:      {v['author']}")
        if v.get("description"):
            print(f"    description: {v['description']}")
        print(f"    created:     {_time(v['createTimeSinceEpoch'])}, updated {_time(v['lastUpdateTimeSinceEpoch'])}")
        for k, val in sorted(v["customProperties"].items()):
            print(f"    {k}: {_prop(val)}")
        for a in v["artifacts"]:
            print(f"    ModelArtifact {a['name']} (id {a['id']}, format {_fmt(a)})")
            print(f"      uri: {a['uri']}")
            for k, val in sorted(a["customProperties"].items()):
                print(f"      {k}: {_prop(val)}")
    return 0
