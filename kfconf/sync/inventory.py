"""The inventory: what the syncer applied for one project and environment, kept in the cluster.

Like Flux's `.status.inventory`, a list of compact `group_kind_namespace_name_version` entries (here
with each object's content hash, for the no-op fast path). It lives in a ConfigMap in the project's
namespace, gzip-compressed JSON in `binaryData`, so 1,000 objects take a few kilobytes, far below
the 1 MiB object limit. The last reconcile's per-resource status sits beside it for `kfconf status`.

Pure functions here; reading and writing goes through `kfconf.sync.kube.Kube`.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfconf.sync.objects import ENV_LABEL, MANAGED_BY, MANAGED_BY_VALUE, PROJECT_LABEL, ObjRef, apply_stage

if TYPE_CHECKING:
    from kfconf.sync.kube import Kube

INVENTORY_LABEL = "kfconf.dev/inventory"
INVENTORY_KEY = "inventory.json.gz"
STATUS_KEY = "status.json.gz"
NO_ENV = "base"


def inventory_name(project: str, env: str | None) -> str:
    return f"kfconf-inventory.{project}.{env or NO_ENV}"


@dataclass
class Inventory:
    entries: dict[str, str] = field(default_factory=dict)
    """Inventory entry (`ObjRef.entry`) → content hash of what was applied ("" when unknown)."""

    @classmethod
    def of(cls, items: Iterable[tuple[ObjRef, str]]) -> Inventory:
        return cls({ref.entry: h for ref, h in items})

    def refs(self) -> list[ObjRef]:
        return [ObjRef.parse(e) for e in sorted(self.entries)]

    def keys(self) -> set[tuple[str, str, str, str]]:
        return {r.key for r in self.refs()}

    def union(self, other: Inventory) -> Inventory:
        """Both sets; where an object is in both (by key), `other`'s entry wins."""
        theirs = other.keys()
        merged = {e: h for e, h in self.entries.items() if ObjRef.parse(e).key not in theirs}
        merged.update(other.entries)
        return Inventory(merged)

    def __len__(self) -> int:
        return len(self.entries)


def stale(old: Inventory, new: Inventory) -> list[ObjRef]:
    """Objects in `old` but not in `new` (by identity, ignoring the API version), in delete order:
    workloads first, namespaces last — the reverse of the apply stages."""
    keep = new.keys()
    gone = [r for r in old.refs() if r.key not in keep]
    return sorted(gone, key=lambda r: (-apply_stage(r.kind), r.kind, r.namespace, r.name))


def encode(doc: Any) -> str:
    """gzip'd canonical JSON, base64: deterministic (no timestamp in the gzip header)."""
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode()


def decode(text: str) -> Any:
    return json.loads(gzip.decompress(base64.b64decode(text)))


def to_configmap(name: str, namespace: str, project: str, env: str | None, inventory: Inventory,
                 status: Mapping[str, Any] | None, data: Mapping[str, str]) -> dict[str, Any]:
    binary = {INVENTORY_KEY: encode({"version": 1, "entries": inventory.entries})}
    if status is not None:
        binary[STATUS_KEY] = encode(status)
    labels = {MANAGED_BY: MANAGED_BY_VALUE, PROJECT_LABEL: project, INVENTORY_LABEL: "true", ENV_LABEL: env or NO_ENV}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": dict(data),
        "binaryData": binary,
    }


def from_configmap(cm: Mapping[str, Any] | None) -> tuple[Inventory, dict[str, Any] | None]:
    if not cm:
        return Inventory(), None
    binary = cm.get("binaryData") or {}
    inv = Inventory()
    if INVENTORY_KEY in binary:
        inv = Inventory(dict(decode(binary[INVENTORY_KEY]).get("entries") or {}))
    status = decode(binary[STATUS_KEY]) if STATUS_KEY in binary else None
    return inv, status


def inventory_ref(name: str, namespace: str) -> ObjRef:
    return ObjRef("", "ConfigMap", namespace, name, "v1")


def load(kube: Kube, name: str, namespace: str) -> tuple[Inventory, dict[str, Any] | None, dict[str, Any] | None]:
    """(inventory, last status, the ConfigMap) — empty when there is none yet."""
    cm = kube.get(inventory_ref(name, namespace))
    inv, status = from_configmap(cm)
    return inv, status, cm


def save(kube: Kube, body: Mapping[str, Any]) -> dict[str, Any]:
    # force: the inventory is ours alone; another manager's edit to it must not block the record
    return kube.apply(body, force=True)
