"""`kfconf syncer manifests --tenant NS --repo URL`: install manifests of a tenant's in-cluster syncer."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("syncer", help="install the in-cluster syncer")
    verbs = p.add_subparsers(dest="syncer_verb", metavar="ACTION", required=True)
    m = verbs.add_parser("manifests", help="print ServiceAccount, least-privilege RBAC and Deployment for a tenant")
    m.add_argument("--tenant", required=True, metavar="NS", help="the tenant's (profile's) namespace")
    m.add_argument("--repo", required=True, help="GitOps repository URL the syncer pulls")
    m.add_argument("--branch", default="main")
    m.add_argument("--path", default=".", metavar="DIR",
                   help="folder the syncer applies; for a tenant, the namespace folder of a published tree "
                        "(DIR/NAMESPACE): the cluster-scoped objects in DIR/_cluster are the platform's")
    m.add_argument("--name", default="kfconf-syncer")
    m.add_argument("--image", default=None, help="syncer image (default ghcr.io/kfconf/syncer:VERSION)")
    m.add_argument("--allow-kinds", metavar="K,…",
                   help="kinds the tenant may sync (default: the namespaced kinds kfconf generates, without RBAC; "
                        "add Role,RoleBinding to let it apply a project's RBAC)")
    m.add_argument("--bind-clusterroles", metavar="R,…", default="kubeflow-edit,kubeflow-view",
                   help="ClusterRoles its RoleBindings may reference (with RoleBinding allowed)")
    m.add_argument("--interval", default="60s")
    m.add_argument("--drift", choices=("correct", "warn", "off"), default="correct")
    m.add_argument("--project")
    m.add_argument("--env")
    m.add_argument("--verify-key-configmap", metavar="NAME",
                   help="ConfigMap (key allowed.asc) with the OpenPGP keys commits must be signed with")


def run(args: argparse.Namespace) -> int:
    from kfconf.build.emit import dump
    from kfconf.sync.manifests import DEFAULT_IMAGE, SyncerConfig, check_name, syncer_manifests
    from kfconf.sync.tenant import parse_kinds

    check_name(args.tenant, "--tenant")
    check_name(args.name, "--name")
    cfg = SyncerConfig(tenant=args.tenant, repo=args.repo, branch=args.branch, path=args.path, name=args.name,
                       image=args.image or DEFAULT_IMAGE, kinds=parse_kinds(args.allow_kinds),
                       interval=args.interval, drift=args.drift, project=args.project, env=args.env,
                       verify_key_configmap=args.verify_key_configmap,
                       bind_clusterroles=tuple(r.strip() for r in args.bind_clusterroles.split(",") if r.strip()))
    sys.stdout.write("".join("---\n" + dump(obj) for obj in syncer_manifests(cfg)))
    return 0
