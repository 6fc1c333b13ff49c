"""Helpers for the syncer's cluster tests: a GitOps repository, an in-process `kfconf sync`, polling.

Fixtures that use them are in conftest.py; tests import the helpers from here by name.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kfconf.cli.main import main
from kfconf.sync.kube import Kube, KubeError
from kfconf.sync.objects import ObjRef
from kfconf.testing.controlplane import ControlPlane


def git(*args: str, cwd: Path) -> str:
    p = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    return p.stdout


def cm(ns: str, name: str, data: dict[str, str] | None = None, project: str | None = "demo",
       **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if project:
        meta["labels"] = {"kfconf.dev/project": project}
    if annotations:
        meta["annotations"] = {k.replace("__", "/").replace("_", "-"): v for k, v in annotations.items()}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"v": "1"}}


@dataclass
class GitOps:
    root: Path
    folder: str = "envs/prod"

    def put(self, objects: list[dict[str, Any]], message: str = "render") -> str:
        """Make the folder hold exactly `objects` (one file each) and commit; returns the commit."""
        target = self.root / self.folder
        if target.exists():
            for f in target.rglob("*.yaml"):
                f.unlink()
        target.mkdir(parents=True, exist_ok=True)
        (target / "README.md").write_text("rendered by kfconf\n")  # keeps the folder when it holds no objects
        for o in objects:
            ns = o["metadata"].get("namespace") or "_cluster"
            f = target / ns / f"{o['kind'].lower()}.{o['metadata']['name']}.yaml"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(yaml.safe_dump(o, sort_keys=True))
        git("add", "-A", cwd=self.root)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.root)
        return git("rev-parse", "HEAD", cwd=self.root).strip()


def new_gitops(tmp_path: Path) -> GitOps:
    root = tmp_path / "gitops"
    root.mkdir()
    git("init", "-q", "--initial-branch=main", cwd=root)
    return GitOps(root)


@dataclass
class Sync:
    cp: ControlPlane
    gitops: GitOps
    cache: Path
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, *extra: str, restricted: bool = False, folder: str | None = None) -> tuple[int, str, str]:
        kc = self.cp.restricted_kubeconfig if restricted else self.cp.admin_kubeconfig
        argv = ["sync", "--once", "--repo", str(self.gitops.root), "--branch", "main",
                "--path", folder or self.gitops.folder, "--cache-dir", str(self.cache), "--kubeconfig", str(kc),
                *extra]
        self.calls.append(argv)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        return code, out.getvalue(), err.getvalue()

    def json(self, *extra: str, restricted: bool = False) -> tuple[int, dict[str, Any], str]:
        code, out, err = self(*extra, "-o", "json", restricted=restricted)
        return code, (json.loads(out) if out.strip() else {}), err


def actions(report: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["action"] for r in report.get("resources", [])}


def get_cm(kube: Kube, ns: str, name: str) -> dict[str, Any] | None:
    return kube.get(ObjRef("", "ConfigMap", ns, name, "v1"))


def names(kube: Kube, ns: str, kind: str = "ConfigMap", api: str = "v1") -> set[str]:
    return {o["metadata"]["name"] for o in kube.list(api, kind, ns) if not o["metadata"]["name"].startswith(
        "kfconf-inventory.")}


def events(kube: Kube, ns: str, name: str | None = None) -> list[dict[str, Any]]:
    return [e for e in kube.list("v1", "Event", ns) if name is None or e["involvedObject"]["name"] == name]


def until(fn: Callable[[], Any], timeout: float = 10.0, every: float = 0.2) -> Any:
    """Poll until fn() returns something truthy (RBAC caches take a moment to see a new binding)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(KubeError):
            last = fn()
            if last:
                return last
        time.sleep(every)
    return last


def tenant_binder(control_plane: ControlPlane, kube: Kube) -> Callable[[str, tuple[str, ...]], None]:
    """Grant the restricted identity (kfconf-tenant) exactly the syncer's tenant Role in a namespace."""
    from kfconf.sync.manifests import rbac_rules
    from kfconf.testing.controlplane import RESTRICTED_USER

    def bind(ns: str, kinds: tuple[str, ...]) -> None:
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "kfconf-tenant", "namespace": ns}, "rules": rbac_rules(kinds)}
        kube.apply(role, force=True)
        kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "kfconf-tenant", "namespace": ns},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kfconf-tenant"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RESTRICTED_USER}]},
                   force=True)
        restricted = Kube(control_plane.restricted_client())
        assert until(lambda: list(restricted.list("v1", "ConfigMap", ns)) is not None), "RBAC never took effect"

    return bind
