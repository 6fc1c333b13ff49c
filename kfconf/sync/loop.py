"""The sync loop: poll the source, reconcile, record; once, or every interval until told to stop.

Every interval the cluster is reconciled even when the commit did not move, because drift happens in
the cluster, not in git (the unchanged objects cost one list call per kind). A failure of one round
(git unreachable, API server restarting) is recorded and retried with backoff; the loop never dies
of it. SIGTERM finishes the current round and stops.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kfconf.core.errors import FindingsError, KfconfError
from kfconf.sync.changeset import ChangeSet
from kfconf.sync.manager import ResourceManager
from kfconf.sync.metrics import Metrics
from kfconf.sync.source import GitSource, Revision


@dataclass
class Round:
    revision: Revision | None
    changes: ChangeSet | None = None
    error: KfconfError | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        if self.changes is None:
            return 0
        if self.changes.dry_run and self.changes.pending:  # like a diff: 1 when applying would change something
            return 1
        return 0 if self.changes.ok else 1


@dataclass
class Syncer:
    source: GitSource
    manager: ResourceManager
    metrics: Metrics = field(default_factory=Metrics)
    interval: float = 60.0
    report: Callable[[Round], None] = lambda r: None
    stop: threading.Event = field(default_factory=threading.Event)

    def once(self) -> Round:
        t0 = time.monotonic()
        rev: Revision | None = None
        try:
            rev = self.source.fetch()
            self.source.verify(rev)
            manifests = self.source.manifests(rev)
            cs = self.manager.reconcile(manifests, str(rev))
        except KfconfError as e:
            msg = "; ".join(d.render() for d in e.diagnostics) if isinstance(e, FindingsError) else str(e)
            self.metrics.error(msg, time.monotonic() - t0)
            r = Round(rev, error=e)
        else:
            self.metrics.observe(cs, len(manifests))
            r = Round(rev, cs)
        self.report(r)
        return r

    def forever(self) -> int:
        failures = 0
        while not self.stop.is_set():
            r = self.once()
            failures = failures + 1 if r.error is not None else 0
            # backoff after errors (capped at the interval), jitter so many syncers don't poll in step
            wait = min(self.interval, 2.0 ** min(failures, 6)) if failures else self.interval
            self.stop.wait(wait * random.uniform(0.9, 1.1))
        print("kfconf sync: stopped", file=sys.stderr)
        return 0
