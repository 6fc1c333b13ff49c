"""The result of one reconcile: one entry per object, read by the CLI, events, metrics and status."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kfconf.core.errors import Diagnostic, Severity
from kfconf.core.source import Loc
from kfconf.sync.health_types import HealthStatus
from kfconf.sync.objects import ObjRef


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"        # changed in git, applied
    UNCHANGED = "unchanged"
    CORRECTED = "corrected"          # drifted in the cluster, put back
    DRIFTED = "drifted"              # drifted in the cluster, reported only (--drift warn)
    CONFLICT = "conflict"            # another field manager owns a field we set: reported, not clobbered
    REFUSED = "refused"              # exists but is not ours, or outside the tenant
    FAILED = "failed"
    DELETED = "deleted"              # pruned
    PRUNE_SKIPPED = "prune-skipped"  # left git, but opted out or not ours
    WOULD_APPLY = "would-apply"      # --dry-run
    WOULD_DELETE = "would-delete"    # --dry-run


PROBLEMS = frozenset({Action.DRIFTED, Action.CONFLICT, Action.REFUSED, Action.FAILED})


@dataclass
class Entry:
    ref: ObjRef
    action: Action
    message: str = ""
    code: str | None = None
    fields: list[str] = field(default_factory=list)
    """Field paths that differed (drift) or conflicted."""
    health: HealthStatus | None = None
    loc: Loc | None = None
    uid: str | None = None

    def line(self) -> str:
        text = f"{self.ref} {self.action.value}"
        if self.message:
            text += f": {self.message}"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.ref.id, "apiVersion": self.ref.api_version, "action": self.action.value}
        if self.message:
            out["message"] = self.message
        if self.code:
            out["code"] = self.code
        if self.fields:
            out["fields"] = self.fields
        if self.health:
            out["health"] = self.health.state
            if self.health.message:
                out["healthMessage"] = self.health.message
        if self.loc:
            out["source"] = str(self.loc)
        return out

    def diagnostic(self) -> Diagnostic | None:
        if self.action not in PROBLEMS and not (self.action is Action.PRUNE_SKIPPED and self.code):
            return None
        sev = Severity.WARNING if self.action in (Action.DRIFTED, Action.PRUNE_SKIPPED) else Severity.ERROR
        return Diagnostic(self.code or "KF602", f"{self.ref}: {self.message or self.action.value}", self.loc,
                          severity=sev)


@dataclass
class ChangeSet:
    revision: str = ""
    entries: list[Entry] = field(default_factory=list)
    started: float = 0.0
    duration_s: float = 0.0
    dry_run: bool = False

    def add(self, e: Entry) -> Entry:
        self.entries.append(e)
        return e

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(e.action.value for e in self.entries).items()))

    @property
    def problems(self) -> list[Entry]:
        return [e for e in self.entries if e.action in PROBLEMS]

    @property
    def pending(self) -> list[Entry]:
        """What a --dry-run found to do."""
        return [e for e in self.entries if e.action in (Action.WOULD_APPLY, Action.WOULD_DELETE)]

    @property
    def ok(self) -> bool:
        return not self.problems

    def diagnostics(self) -> list[Diagnostic]:
        return [d for e in self.entries if (d := e.diagnostic()) is not None]

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{n} {a}" for a, n in counts.items()] or ["nothing to do"]
        return f"{self.revision or 'source'}: " + ", ".join(parts) + f" in {self.duration_s:.2f} s"

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "dryRun": self.dry_run, "durationSeconds": round(self.duration_s, 3),
                "counts": self.counts(), "resources": [e.to_json() for e in self.entries]}
