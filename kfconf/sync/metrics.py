"""Prometheus metrics and the /healthz, /readyz, /metrics endpoint (127.0.0.1 unless told otherwise).

Each Metrics owns its own CollectorRegistry, so two syncers in one process (tests) never collide.
/readyz answers 200 once a reconcile has succeeded and the latest one did not fail.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kfconf.core.errors import UsageError
from kfconf.sync.changeset import Action, ChangeSet


@dataclass
class Metrics:
    registry: Any = None
    ready: bool = False
    last_error: str = ""
    _m: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = self.registry or CollectorRegistry()
        r = self.registry
        self._m = {
            "duration": Histogram("kfconf_reconcile_duration_seconds", "Time of one reconcile", ["result"],
                                  registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)),
            "reconciles": Counter("kfconf_reconciles_total", "Reconciles by result", ["result"], registry=r),
            "applied": Counter("kfconf_resources_applied_total", "Objects by what the syncer did to them",
                               ["action"], registry=r),
            "drift": Gauge("kfconf_drift_resources", "Objects found drifted in the last reconcile", registry=r),
            "managed": Gauge("kfconf_managed_resources", "Objects in the inventory", registry=r),
            "last_success": Gauge("kfconf_last_success_timestamp_seconds", "Unix time of the last good reconcile",
                                  registry=r),
        }

    def observe(self, cs: ChangeSet, inventory_size: int) -> None:
        result = "success" if cs.ok else "failure"
        self._m["duration"].labels(result).observe(cs.duration_s)
        self._m["reconciles"].labels(result).inc()
        for e in cs.entries:
            if e.action is not Action.UNCHANGED:
                self._m["applied"].labels(e.action.value).inc()
        self._m["drift"].set(sum(e.action in (Action.DRIFTED, Action.CORRECTED) for e in cs.entries))
        self._m["managed"].set(inventory_size)
        if cs.ok:
            self._m["last_success"].set(time.time())
            self.ready, self.last_error = True, ""
        else:
            self.ready, self.last_error = False, cs.summary()

    def error(self, message: str, duration_s: float) -> None:
        self._m["duration"].labels("error").observe(duration_s)
        self._m["reconciles"].labels("error").inc()
        self.ready, self.last_error = False, message

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--listen: expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def serve(metrics: Metrics, listen: str) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; returns the server (its real port is server.server_port)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                if metrics.ready:
                    self._send(200, b"ok\n")
                else:
                    self._send(503, (metrics.last_error or "no successful reconcile yet").encode() + b"\n")
            elif path == "/metrics":
                self._send(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: probes hit this every few seconds
            return

    host, port = parse_listen(listen)
    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        raise UsageError(f"--listen {listen}: {e}") from e
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="kfconf-metrics", daemon=True).start()
    return server
