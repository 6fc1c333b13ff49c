"""`kfconf status`: what the syncer last did to each object, and how each object is doing now.

Reads the inventory ConfigMaps (label kfconf.dev/inventory=true) of a namespace: the last reconcile's
per-resource record (applied / drifted / pruned …), then the live objects (one list call per kind and
namespace) for their health now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kfconf.sync import inventory as inv
from kfconf.sync.changeset import PROBLEMS, Action
from kfconf.sync.health import HealthRegistry
from kfconf.sync.kube import Kube, KubeError, MissingKind
from kfconf.sync.objects import ENV_LABEL, PROJECT_LABEL, ObjRef


@dataclass
class ResourceStatus:
    ref: ObjRef
    action: str
    health: str
    message: str = ""
    health_message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.ref.id, "apiVersion": self.ref.api_version, "lastAction": self.action,
                "health": self.health, "message": self.message, "healthMessage": self.health_message}


@dataclass
class ProjectStatus:
    namespace: str
    project: str
    env: str
    revision: str
    time: str
    result: str
    summary: str
    resources: list[ResourceStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad_actions = {a.value for a in PROBLEMS}
        return self.result == "success" and not any(
            r.action in bad_actions or r.health == "Degraded" for r in self.resources)

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "project": self.project, "environment": self.env,
                "revision": self.revision, "lastReconcileTime": self.time, "result": self.result,
                "summary": self.summary, "ok": self.ok, "resources": [r.to_json() for r in self.resources]}

    def text(self) -> str:
        summary = self.summary.removeprefix(f"{self.revision}: ") if self.revision else self.summary
        head = (f"{self.project}/{self.env} in {self.namespace}: {self.result} at {self.time or '?'}"
                f" — {self.revision or 'no revision'}\n  {summary}\n")
        if not self.resources:
            return head + "  (no resources)\n"
        w = max(len(r.ref.id) for r in self.resources)
        lines = [f"  {'RESOURCE':<{w}}  {'LAST ACTION':<13}  {'HEALTH':<11}  MESSAGE"]
        for r in self.resources:
            msg = r.message or r.health_message
            lines.append(f"  {r.ref.id:<{w}}  {r.action:<13}  {r.health:<11}  {msg}".rstrip())
        return head + "\n".join(lines) + "\n"


def collect(kube: Kube, health: HealthRegistry, namespace: str, project: str | None = None,
            env: str | None = None, refresh: bool = True) -> list[ProjectStatus]:
    selector = f"{inv.INVENTORY_LABEL}=true" + (f",{PROJECT_LABEL}={project}" if project else "") + (
        f",{ENV_LABEL}={env}" if env else "")
    out: list[ProjectStatus] = []
    for cm in sorted(kube.list("v1", "ConfigMap", namespace, label_selector=selector),
                     key=lambda c: c["metadata"]["name"]):
        inventory, status = inv.from_configmap(cm)
        data = cm.get("data") or {}
        labels = cm["metadata"].get("labels") or {}
        ps = ProjectStatus(namespace, labels.get(PROJECT_LABEL, "?"), labels.get(ENV_LABEL, "?"),
                           data.get("revision", ""), data.get("lastReconcileTime", ""), data.get("result", "unknown"),
                           data.get("summary", ""))
        last = {r["id"]: r for r in (status or {}).get("resources") or []}
        refs = inventory.refs()
        live = _live(kube, refs) if refresh else {}
        for ref in refs:
            rec = last.get(ref.id, {})
            action = rec.get("action", Action.UNCHANGED.value)
            if refresh:
                h = health.status(live.get(ref.key)) if ref.key in live else None
                state, hmsg = (h.state, h.message) if h else ("Missing", "not found in the cluster")
            else:
                state, hmsg = rec.get("health", "Unknown"), rec.get("healthMessage", "")
            ps.resources.append(ResourceStatus(ref, action, state, rec.get("message", ""), hmsg))
        # what the last reconcile pruned or skipped is no longer in the inventory, but a person wants to see it
        for rid, rec in sorted(last.items()):
            if rec.get("action") in (Action.DELETED.value, Action.PRUNE_SKIPPED.value) and \
                    rid not in {r.ref.id for r in ps.resources}:
                ref = _ref_from_record(rec)
                ps.resources.append(ResourceStatus(ref, rec["action"], "—", rec.get("message", "")))
        out.append(ps)
    return out


def _ref_from_record(rec: dict[str, Any]) -> ObjRef:
    parts = str(rec["id"]).split("/")
    kind, ns, name = (parts[0], "", parts[1]) if len(parts) == 2 else (parts[0], parts[1], parts[2])
    group, _, version = str(rec.get("apiVersion", "")).rpartition("/")
    return ObjRef(group, kind, ns, name, version)


def _live(kube: Kube, refs: list[ObjRef]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[ObjRef]] = defaultdict(list)
    for r in refs:
        groups[(r.api_version, r.kind, r.namespace)].append(r)
    out: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for (api_version, kind, ns), members in groups.items():
        try:
            wanted = {r.name: r for r in members}
            for obj in kube.list(api_version, kind, ns or None):
                hit = wanted.get(obj["metadata"]["name"])
                if hit is not None:
                    out[hit.key] = obj
        except (MissingKind, KubeError):
            continue  # shown as Missing: the kind or the permission to list it is gone
    return out
