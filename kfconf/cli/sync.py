"""`kfconf sync --repo REPO [--branch B] [--path DIR]`: keep a cluster equal to a folder of a GitOps repo.

Runs in the cluster (its ServiceAccount) or from a laptop (kubeconfig). `--once` reconciles one time
and exits 0 (in sync), 1 (findings: drift reported, conflicts, refusals, failed objects) or 2 (could
not run); without it, it polls every --interval and serves /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

from kfconf.core.errors import UsageError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration such as 30s, 5m or 1h, got {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kfconf" / "sync"


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--as", dest="impersonate", metavar="USER",
                   help="impersonate USER, e.g. system:serviceaccount:NS:NAME (to try a syncer's permissions)")


def add(sub: Any) -> None:
    p = sub.add_parser("sync", help="keep a cluster equal to a folder of a GitOps repository")
    src = p.add_argument_group("source")
    src.add_argument("--repo", required=True, help="git repository: a path or URL")
    src.add_argument("--branch", default="main")
    src.add_argument("--path", default=".", metavar="DIR", help="folder inside the repository (default: its root)")
    src.add_argument("--verify-key", type=Path, metavar="FILE",
                     help="apply only commits signed by a key in this (armored) OpenPGP keyring")
    src.add_argument("--cache-dir", type=Path, default=None, help="where fetched repositories are kept")
    run = p.add_argument_group("loop")
    run.add_argument("--once", action="store_true", help="reconcile once and exit")
    run.add_argument("--interval", type=duration, default=60.0, help="poll interval (default 60s)")
    run.add_argument("--listen", default=None, metavar="HOST:PORT",
                     help="serve /healthz /readyz /metrics (default 127.0.0.1:9440 when looping; 'off' to disable)")
    ap = p.add_argument_group("apply")
    add_cluster_args(p)
    ap.add_argument("--drift", choices=("correct", "warn", "off"), default="correct",
                    help="put drifted objects back (correct), only report them (warn), or do not look (off)")
    ap.add_argument("--force-conflicts", action="store_true",
                    help="take fields over from any other field manager (default: report the conflict, KF605)")
    ap.add_argument("--override-managers", metavar="M,…",
                    help="field managers whose edits count as drift and are taken back "
                         "(default: kubectl and its edit/patch/replace/… managers)")
    ap.add_argument("--no-prune", dest="prune", action="store_false", help="never delete what left git")
    ap.add_argument("--allow-empty", action="store_true", help="allow an empty source to prune everything")
    ap.add_argument("--adopt", action="store_true", help="take over existing objects not managed by kfconf")
    ap.add_argument("--dry-run", action="store_true", help="server-side dry-run: say what would change, change nothing")
    ap.add_argument("--wait", action="store_true", help="wait until every object is healthy (see --timeout)")
    ap.add_argument("--timeout", type=duration, default=60.0, help="how long to wait for namespaces, CRDs, health")
    ap.add_argument("--concurrency", type=int, default=8, help="parallel API requests (default 8)")
    who = p.add_argument_group("identity and lockdown")
    who.add_argument("--project", help="project name (default: the kfconf.dev/project label of the objects)")
    who.add_argument("--env", help="environment (default: the kfconf.dev/environment label)")
    who.add_argument("--namespace", help="where the inventory lives (default: the tenant or the objects' namespace)")
    who.add_argument("--tenant-namespace", metavar="NS", help="lockdown: only objects in NS, of --allow-kinds")
    who.add_argument("--allow-kinds", metavar="K,…", help="lockdown: the kinds a tenant may sync (default: the "
                                                          "namespaced kinds kfconf generates)")
    who.add_argument("--bind-clusterroles", metavar="R,…",
                     help="lockdown: ClusterRoles a tenant's RoleBindings may reference (default: kubeflow-edit,"
                          "kubeflow-view)")
    who.add_argument("--allow-service-accounts", metavar="SA,…",
                     help="lockdown: ServiceAccounts a tenant's workloads may run as besides those it defines "
                          "(default: default,default-editor,default-viewer)")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")


def build(args: argparse.Namespace) -> Any:
    from kfconf.sync.health import build_registry
    from kfconf.sync.kube import connect
    from kfconf.sync.loop import Syncer
    from kfconf.sync.manager import DEFAULT_OVERRIDE_MANAGERS, ResourceManager, SyncOptions
    from kfconf.sync.metrics import Metrics
    from kfconf.sync.source import GitSource
    from kfconf.sync.tenant import DEFAULT_BIND, DEFAULT_SERVICE_ACCOUNTS, TenantPolicy, parse_kinds

    for flag in ("allow_kinds", "bind_clusterroles", "allow_service_accounts"):
        if getattr(args, flag) and not args.tenant_namespace:
            raise UsageError(f"--{flag.replace('_', '-')} needs --tenant-namespace")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.tenant_namespace and args.namespace and args.namespace != args.tenant_namespace:
        raise UsageError(f"--namespace {args.namespace}: a tenant's inventory lives in its own namespace "
                         f"{args.tenant_namespace}")

    def names(text: str | None, default: tuple[str, ...]) -> frozenset[str]:
        return frozenset(n.strip() for n in text.split(",") if n.strip()) if text is not None else frozenset(default)

    tenant = TenantPolicy(args.tenant_namespace, frozenset(parse_kinds(args.allow_kinds)),
                          names(args.bind_clusterroles, DEFAULT_BIND),
                          names(args.allow_service_accounts, DEFAULT_SERVICE_ACCOUNTS)) \
        if args.tenant_namespace else None
    overrides = (frozenset(m.strip() for m in args.override_managers.split(",") if m.strip())
                 if args.override_managers is not None else DEFAULT_OVERRIDE_MANAGERS)
    options = SyncOptions(project=args.project, env=args.env, namespace=args.namespace, drift=args.drift,
                          force_conflicts=args.force_conflicts, override_managers=overrides, prune=args.prune,
                          allow_empty=args.allow_empty, adopt=args.adopt, dry_run=args.dry_run,
                          concurrency=args.concurrency, wait_timeout=args.timeout, wait=args.wait, tenant=tenant)
    source = GitSource(args.repo, args.branch, args.path, args.cache_dir or default_cache(), args.verify_key)
    kube = connect(args.kubeconfig, args.context, impersonate=args.impersonate)
    manager = ResourceManager(kube, build_registry(), options)
    return Syncer(source, manager, Metrics(), interval=args.interval, report=_reporter(args))


def _reporter(args: argparse.Namespace) -> Any:
    from kfconf.cli.common import dump_json, print_diagnostics
    from kfconf.core.errors import FindingsError
    from kfconf.sync.changeset import Action
    from kfconf.sync.loop import Round

    def report(r: Round) -> None:
        if r.error is not None:
            if args.once:
                return  # main() prints it once, with the exit code
            if isinstance(r.error, FindingsError):
                print_diagnostics(r.error.diagnostics)
            else:
                print(f"kfconf sync: error: {r.error}", file=sys.stderr)
            return
        cs = r.changes
        assert cs is not None
        if args.output == "json":
            dump_json(cs.to_json())
        else:
            for e in cs.entries:
                if e.action is not Action.UNCHANGED:
                    print(e.line())
            sys.stdout.flush()
        print_diagnostics(cs.diagnostics())
        print(f"kfconf sync: {cs.summary()}", file=sys.stderr)

    return report


def run(args: argparse.Namespace) -> int:
    syncer = build(args)
    if args.once:
        if args.listen and args.listen != "off":
            from kfconf.sync.metrics import serve

            serve(syncer.metrics, args.listen)
        r = syncer.once()
        if r.error is not None:
            raise r.error
        return r.exit_code
    listen = args.listen or "127.0.0.1:9440"
    if listen != "off":
        from kfconf.sync.metrics import serve

        server = serve(syncer.metrics, listen)
        print(f"kfconf sync: serving /healthz /readyz /metrics on {listen.rpartition(':')[0] or '127.0.0.1'}:"
              f"{server.server_port}", file=sys.stderr)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: syncer.stop.set())
    return int(syncer.forever())
