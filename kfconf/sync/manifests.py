"""Install manifests for one tenant's in-cluster syncer: ServiceAccount, Role, RoleBinding, Deployment.

Least privilege: a Role in the tenant's namespace for exactly the allowed kinds (plus what the syncer
itself needs there: its inventory ConfigMap, Events, reading its own Namespace). No ClusterRole, no
cluster-wide write; a cluster-scoped kind can never be granted. The Deployment runs one replica
(`Recreate`: two syncers of one tenant never overlap), non-root, read-only root file system, all
capabilities dropped, probes on /healthz and /readyz.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kfconf import __version__
from kfconf.core.errors import UsageError
from kfconf.core.resource import CLUSTER_SCOPED
from kfconf.sync.tenant import DEFAULT_BIND, DEFAULT_KINDS, kind_info

DEFAULT_IMAGE = f"ghcr.io/kfconf/syncer:{__version__}"
OBJECT_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
PORT = 9440
CACHE = "/var/cache/kfconf"
KEYS = "/etc/kfconf/keys"


@dataclass(frozen=True)
class SyncerConfig:
    tenant: str
    repo: str
    branch: str = "main"
    path: str = "."
    name: str = "kfconf-syncer"
    image: str = DEFAULT_IMAGE
    kinds: tuple[str, ...] = DEFAULT_KINDS
    interval: str = "60s"
    drift: str = "correct"
    project: str | None = None
    env: str | None = None
    verify_key_configmap: str | None = None
    bind_clusterroles: tuple[str, ...] = DEFAULT_BIND


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_name(value: str, flag: str) -> None:
    if not _DNS_LABEL.match(value):
        raise UsageError(f"{flag}: expected a DNS label (lower-case letters, digits, '-', at most 63), got {value!r}")


def rbac_rules(kinds: tuple[str, ...], bind_clusterroles: tuple[str, ...] = DEFAULT_BIND) -> list[dict[str, Any]]:
    """Rules of the tenant syncer's Role: full control of the allowed kinds in its namespace, nothing else.

    Role/RoleBinding are opt-in. Kubernetes lets a subject create a Role only with permissions it holds
    (or `escalate`) and bind a ClusterRole only with `bind` on it; a syncer that applies a project's RBAC
    therefore gets `escalate` and `bind` on Roles and `bind` on the named ClusterRoles (the Kubeflow edit/view
    roles kfconf binds contributors to) — within its namespace only, which is what writing RBAC there means.
    """
    by_group: dict[str, set[str]] = defaultdict(set)
    for k in kinds:
        kind = k.rpartition("/")[2]
        if kind in CLUSTER_SCOPED:
            raise UsageError(f"{kind} is cluster-scoped: a tenant syncer cannot be granted it")
        info = kind_info(kind)
        by_group[info.group].add(info.plural)
    rules: list[dict[str, Any]] = [{"apiGroups": [g], "resources": sorted(res), "verbs": list(OBJECT_VERBS)}
                                   for g, res in sorted(by_group.items())]
    rbac = by_group.get("rbac.authorization.k8s.io", set())
    if "roles" in rbac:
        rules.append({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]})
    if "rolebindings" in rbac:
        rules.append({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"]})
        if bind_clusterroles:
            rules.append({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                          "verbs": ["bind"], "resourceNames": sorted(bind_clusterroles)})
    # what the syncer needs for itself, whatever the tenant's kinds: its inventory and its events
    if "configmaps" not in by_group.get("", set()):
        rules.append({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "patch"]})
    rules.append({"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]})
    return rules


def syncer_manifests(c: SyncerConfig) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "kfconf-syncer", "app.kubernetes.io/instance": c.name,
              "app.kubernetes.io/part-of": "kfconf", "app.kubernetes.io/version": __version__}
    meta = {"name": c.name, "namespace": c.tenant, "labels": labels}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": True}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
            "rules": rbac_rules(c.kinds, c.bind_clusterroles)}
    own_ns = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
              "metadata": dict(meta, name=f"{c.name}-namespace"),
              "rules": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [c.tenant],
                         "verbs": ["get"]}]}
    bindings = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": dict(meta, name=role_name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
         "subjects": [{"kind": "ServiceAccount", "name": c.name, "namespace": c.tenant}]}
        for role_name in (c.name, f"{c.name}-namespace")
    ]
    args = ["sync", "--repo", c.repo, "--branch", c.branch, "--path", c.path, "--tenant-namespace", c.tenant,
            "--allow-kinds", ",".join(c.kinds), "--interval", c.interval, "--drift", c.drift,
            "--listen", f"0.0.0.0:{PORT}", "--cache-dir", CACHE]
    binds = any(k.rpartition("/")[2] == "RoleBinding" for k in c.kinds)
    if binds and tuple(sorted(c.bind_clusterroles)) != DEFAULT_BIND:  # its lockdown allows what its RBAC does
        args += ["--bind-clusterroles", ",".join(sorted(c.bind_clusterroles))]
    if c.project:
        args += ["--project", c.project]
    if c.env:
        args += ["--env", c.env]
    volumes: list[dict[str, Any]] = [{"name": "cache", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "cache", "mountPath": CACHE}, {"name": "tmp", "mountPath": "/tmp"}]
    if c.verify_key_configmap:
        args += ["--verify-key", f"{KEYS}/allowed.asc"]
        volumes.append({"name": "keys", "configMap": {"name": c.verify_key_configmap}})
        mounts.append({"name": "keys", "mountPath": KEYS, "readOnly": True})
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 20}
    container = {
        "name": "syncer", "image": c.image, "args": args,
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [{"name": "HOME", "value": CACHE},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "livenessProbe": probe,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": 1, "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app.kubernetes.io/name": "kfconf-syncer",
                                         "app.kubernetes.io/instance": c.name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"serviceAccountName": c.name, "automountServiceAccountToken": True,
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                             "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [container], "volumes": volumes},
            },
        },
    }
    # independent copies: shared dicts would come out as YAML anchors and aliases
    return [json.loads(json.dumps(o)) for o in (sa, role, own_ns, *bindings, deploy)]
