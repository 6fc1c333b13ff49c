"""Kubernetes Events on the objects the syncer touches, so `kubectl describe` tells what happened.

Only noteworthy things get an event per object (drift, conflicts, refusals, failures, prunes and
skipped prunes); created/configured objects are summed up in one event on the inventory, so a first
apply of 1,000 objects does not write 1,000 events. Recording is best effort: a syncer without the
right to create events still syncs.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kfconf.sync.changeset import Action, ChangeSet, Entry
from kfconf.sync.kube import KubeError
from kfconf.sync.objects import ObjRef

if TYPE_CHECKING:
    from kfconf.sync.kube import Kube

COMPONENT = "kfconf-syncer"
MAX_PER_RECONCILE = 100

REASONS: dict[Action, tuple[str, str]] = {
    Action.CORRECTED: ("DriftCorrected", "Normal"),
    Action.DRIFTED: ("DriftDetected", "Warning"),
    Action.CONFLICT: ("FieldManagerConflict", "Warning"),
    Action.REFUSED: ("ApplyRefused", "Warning"),
    Action.FAILED: ("ApplyFailed", "Warning"),
    Action.DELETED: ("Pruned", "Normal"),
    Action.PRUNE_SKIPPED: ("PruneSkipped", "Warning"),
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


REPEAT_AFTER_S = 600.0


@dataclass
class EventRecorder:
    kube: Kube
    instance: str = field(default_factory=lambda: os.environ.get("POD_NAME") or socket.gethostname())
    failures: int = 0
    _last: dict[tuple[str, str, str], float] = field(default_factory=dict)
    """(object, reason, message) → when it was last recorded: a conflict that persists for hours is
    recorded every REPEAT_AFTER_S, not on every round of the loop."""

    def emit(self, ref: ObjRef, reason: str, message: str, type_: str = "Normal", uid: str | None = None,
             key: str | None = None) -> None:
        now_s = time.monotonic()
        dedupe = (ref.entry, reason, key if key is not None else message)
        if now_s - self._last.get(dedupe, -REPEAT_AFTER_S) < REPEAT_AFTER_S:
            return
        self._last[dedupe] = now_s
        ns = ref.namespace or "default"
        involved = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
        if ref.namespace:
            involved["namespace"] = ref.namespace
        if uid:
            involved["uid"] = uid
        now = _now()
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{ref.name}.{time.time_ns():x}"[:253], "namespace": ns},
            "involvedObject": involved, "reason": reason, "message": message[:1024], "type": type_,
            "source": {"component": COMPONENT}, "reportingComponent": f"kfconf.dev/{COMPONENT}",
            "reportingInstance": self.instance[:128], "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "action": "Reconcile",
        }
        try:
            self.kube.create("v1", "Event", ns, body)
        except KubeError as e:
            self.failures += 1
            if self.failures == 1:
                print(f"kfconf sync: warning: cannot record events ({e})", file=sys.stderr)

    def entry(self, e: Entry) -> None:
        reason, type_ = REASONS[e.action]
        self.emit(e.ref, reason, e.message or e.action.value, type_, e.uid)

    def changeset(self, cs: ChangeSet, inventory: ObjRef, inventory_uid: str | None) -> None:
        noteworthy = [e for e in cs.entries if e.action in REASONS]
        for e in noteworthy[:MAX_PER_RECONCILE]:
            self.entry(e)
        changed = sum(e.action in (Action.CREATED, Action.CONFIGURED, Action.CORRECTED, Action.DELETED)
                      for e in cs.entries)
        same = f"{cs.revision} {cs.counts()}"  # the summary without its duration
        if cs.problems:
            self.emit(inventory, "ReconciliationFailed", cs.summary(), "Warning", inventory_uid, key=same)
        elif changed:
            self.emit(inventory, "ReconciliationSucceeded", cs.summary(), "Normal", inventory_uid, key=same)
