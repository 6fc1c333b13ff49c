"""A real, throw-away Kubernetes control plane (etcd + kube-apiserver) for tests and benchmarks.

envtest style: no kubelet, no controller-manager, but the real API semantics — server-side apply,
CRD structural schemas and CEL rules, RBAC, admission. The binaries are built from the Go module
proxy by ``scripts/controlplane.sh`` and cached outside the work tree (kfconf.testing.binaries); the CRDs a
stack needs come from kfconf.testing.stackcrds, server-side apply from kfconf.testing.apply.

    with ControlPlane(crd_files=crd_files_for_stack("kubeflow-latest", ref)) as cp:
        ns = cp.new_namespace("demo")
        cp.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": ns}})

Identities (static token file): ``kfconf-admin`` in ``system:masters`` and ``kfconf-tenant`` with no
groups (only what RBAC grants it). Every process is started in its own session and stopped by PID.

Nothing here is imported by the compiler itself; the ``kubernetes`` client is imported lazily.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kfconf.testing.apply import DEFAULT_FIELD_MANAGER, APIResource, object_ref, resolve_resource, server_side_apply
from kfconf.testing.binaries import cache_dir, find_binaries, kubectl_path
from kfconf.testing.stackcrds import load_crds

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

ADMIN_USER = "kfconf-admin"
RESTRICTED_USER = "kfconf-tenant"

# --------------------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGTERM when the test process dies, so nothing survives a killed pytest."""
    os.setsid()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _snapshot_names(snap: Path) -> list[str] | None:
    """The CRD names stored with a snapshot, or None when there is no usable snapshot."""
    try:
        names = json.loads((snap / "crds.json").read_text())
    except (OSError, ValueError):
        return None
    if not (snap / "data" / "member").is_dir() or not isinstance(names, list):
        return None
    return [str(n) for n in names]


def _tail(path: Path, n: int = 40, offset: int = 0) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-n:])


class ControlPlaneError(RuntimeError):
    pass


_LIVE: set[ControlPlane] = set()


@atexit.register
def _stop_all() -> None:  # last resort: an interpreter exiting without teardown
    for cp in list(_LIVE):
        with contextlib.suppress(Exception):
            cp.stop()


class ControlPlane:
    """etcd + kube-apiserver on free 127.0.0.1 ports, RBAC, static tokens, temp cert dir.

    ``start()`` (or ``with``) blocks until the authenticated ``/readyz`` answers 200 (``startup_timeout``)
    and the CRDs in ``crd_files`` / ``extra_crds`` are Established. ``stop()`` kills every process it
    started, by PID, and removes the work dir (kept when ``KFCONF_KEEP_CONTROLPLANE=1``).

    Installing the CRDs (server-side apply of ~10 MB of schemas) is the slow part of a start, so after
    the first install etcd's data dir is kept as a snapshot in ``<cache>/etcd-snapshots/<key>`` (key:
    binaries + exact CRD content); later planes with the same CRDs start etcd from a copy of it and only
    wait for Established. ``snapshot=False`` or ``KFCONF_CONTROLPLANE_SNAPSHOT=0`` turns this off.
    """

    def __init__(
        self,
        *,
        crd_files: Sequence[Path] = (),
        extra_crds: Sequence[Mapping[str, Any]] = (),
        apiserver_bin: Path | None = None,
        etcd_bin: Path | None = None,
        workdir: Path | None = None,
        startup_timeout: float = 90.0,
        name: str = "kfconf",
        extra_apiserver_args: Sequence[str] = (),
        snapshot: bool | None = None,
    ):
        self.crd_files = [Path(p) for p in crd_files]
        self.extra_crds = [dict(c) for c in extra_crds]
        self._apiserver_bin = apiserver_bin
        self._etcd_bin = etcd_bin
        self._workdir_arg = workdir
        self.startup_timeout = startup_timeout
        self.name = name
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.workdir: Path | None = None
        self.etcd: subprocess.Popen[bytes] | None = None
        self.apiserver: subprocess.Popen[bytes] | None = None
        self.etcd_url = ""
        self.api_port = 0
        self.admin_token = secrets.token_hex(16)
        self.restricted_token = secrets.token_hex(16)
        self.timings: dict[str, float] = {}
        self.installed_crds: list[str] = []
        self._clients: list[Any] = []
        self._admin_cached: Any = None
        self._resource_cache: dict[tuple[str, str], APIResource] = {}
        self._owns_workdir = False
        self._etcd_ports = (0, 0)
        if snapshot is None:
            snapshot = os.environ.get("KFCONF_CONTROLPLANE_SNAPSHOT", "1") != "0"
        self.use_snapshot = snapshot

    # -- paths ------------------------------------------------------------------------------------
    def _dir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("control plane not started")
        return self.workdir

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca_file(self) -> Path:
        return self._dir() / "pki" / "apiserver.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        return self._dir() / "admin.kubeconfig"

    @property
    def restricted_kubeconfig(self) -> Path:
        return self._dir() / "restricted.kubeconfig"

    @property
    def apiserver_log(self) -> Path:
        return self._dir() / "apiserver.log"

    @property
    def etcd_log(self) -> Path:
        return self._dir() / "etcd.log"

    @property
    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in (("etcd", self.etcd), ("kube-apiserver", self.apiserver)) if p}

    def rss_kib(self) -> dict[str, int | None]:
        """Resident memory of each process (KiB), from /proc."""
        return {n: _rss_kib(pid) for n, pid in self.pids.items()}

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        if self.apiserver is not None:
            return self
        if self._apiserver_bin is None or self._etcd_bin is None:
            found = find_binaries()
            self._apiserver_bin = self._apiserver_bin or found["kube-apiserver"]
            self._etcd_bin = self._etcd_bin or found["etcd"]
        t0 = time.monotonic()
        if self._workdir_arg is not None:
            self.workdir = Path(self._workdir_arg)
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-controlplane-"))
            self._owns_workdir = True
        _LIVE.add(self)
        try:
            self._write_auth_files()
            has_crds = bool(self.crd_files or self.extra_crds)
            snap = self._snapshot_dir() if has_crds and self.use_snapshot else None
            names = _snapshot_names(snap) if snap is not None else None
            self._start_etcd(seed=snap / "data" if snap is not None and names is not None else None)
            self.timings["etcd_ready_s"] = time.monotonic() - t0
            self.api_port = free_port()
            self._start_apiserver()
            self.timings["apiserver_ready_s"] = time.monotonic() - t0
            self._write_kubeconfigs()
            t1 = time.monotonic()
            if names is not None:
                try:  # stored by an earlier run: the apiserver serves them once its informers synced
                    self.wait_crds_established(names, timeout=60.0)
                    self.installed_crds = list(names)
                    self.timings["from_snapshot"] = 1.0
                except ControlPlaneError:  # a stale or broken snapshot: install, then replace it
                    names = None
                    if snap is not None:
                        shutil.rmtree(snap, ignore_errors=True)
            if has_crds and names is None:
                installed = self.install_crds(self.crd_files, extra=self.extra_crds)
                if snap is not None:
                    self._save_snapshot(snap, installed)
            self.timings["crds_established_s"] = time.monotonic() - t1
            self.timings["ready_s"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    # -- etcd snapshots: a warm start skips installing ~10 MB of CRDs ----------------------------
    def _snapshot_dir(self) -> Path:
        """``<cache>/etcd-snapshots/<key>``; key: the binaries (name, size) and the exact bytes of the
        CRD files and extra CRDs (no YAML parsing: a warm start does not read the 10 MB of CRDs)."""
        h = hashlib.sha256()
        for b in (self._apiserver_bin, self._etcd_bin):
            p = Path(str(b))
            h.update(f"{p.name}:{p.stat().st_size}\n".encode())
        for f in self.crd_files:
            h.update(f"{f.name}\n".encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
        h.update(json.dumps(self.extra_crds, sort_keys=True).encode())
        return cache_dir() / "etcd-snapshots" / h.hexdigest()[:24]

    def _save_snapshot(self, snap: Path, names: Sequence[str]) -> None:
        """Stop both processes, copy etcd's data dir (CRDs installed, nothing else yet) to ``snap``,
        and start them again on the same ports. Costs a few seconds, once per CRD set and version."""
        t0 = time.monotonic()
        self._stop_proc(self.apiserver)
        self.apiserver = None
        self._stop_proc(self.etcd)
        self.etcd = None
        snap.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=snap.parent))
        try:
            shutil.copytree(self._dir() / "etcd-data", tmp / "data")
            (tmp / "crds.json").write_text(json.dumps(list(names)))
            with contextlib.suppress(OSError):  # another session may have written it meanwhile
                tmp.rename(snap)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._start_etcd(keep_ports=True)
        self._start_apiserver(keep_port=True)
        self._resource_cache.clear()
        self.timings["snapshot_saved_s"] = time.monotonic() - t0

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd — by PID (SIGTERM, then SIGKILL after 15 s) — and clean up."""
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self._clients.clear()
        self._admin_cached = None
        self._stop_proc(self.apiserver)
        self.apiserver = None
        self._stop_proc(self.etcd)
        self.etcd = None
        _LIVE.discard(self)
        keep = os.environ.get("KFCONF_KEEP_CONTROLPLANE") == "1"
        if self.workdir is not None and self._owns_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _stop_proc(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=timeout)

    def restart_apiserver(self, timeout: float | None = None) -> float:
        """Stop kube-apiserver (SIGTERM) and start it again on the same port, etcd untouched.

        The serving certificate in the cert dir is reused, so kubeconfigs and clients stay valid.
        Returns the seconds until it was ready again.
        """
        if self.apiserver is None:
            raise ControlPlaneError("control plane not started")
        t0 = time.monotonic()
        self._stop_proc(self.apiserver)
        self.apiserver = None
        self._start_apiserver(timeout=timeout, keep_port=True)
        self._resource_cache.clear()
        return time.monotonic() - t0

    def kill_apiserver(self) -> None:
        """SIGKILL kube-apiserver (a crash); :meth:`start_apiserver_again` brings it back."""
        if self.apiserver is not None and self.apiserver.poll() is None:
            self.apiserver.kill()
            self.apiserver.wait(timeout=15)
        self.apiserver = None

    def start_apiserver_again(self, timeout: float | None = None) -> None:
        if self.apiserver is not None and self.apiserver.poll() is None:
            return
        self._start_apiserver(timeout=timeout, keep_port=True)
        self._resource_cache.clear()

    # -- etcd -------------------------------------------------------------------------------------
    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only use it from the main thread
        # (a fault-injection thread restarting the apiserver must not take it down when it finishes).
        tie = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
        with open(log, "ab") as out:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._dir(),
                preexec_fn=_die_with_parent if tie else None,
                start_new_session=not tie,
            )

    def _start_etcd(self, seed: Path | None = None, keep_ports: bool = False) -> None:
        """Start etcd on free ports with an empty data dir, or a copy of ``seed`` (a snapshot), or —
        with ``keep_ports`` — on its previous ports with the data dir it has."""
        data = self._dir() / "etcd-data"
        last = ""
        for attempt in range(3):
            if not keep_ports:
                shutil.rmtree(data, ignore_errors=True)
                if seed is not None:
                    shutil.copytree(seed, data)
                    data.chmod(0o700)
                else:
                    data.mkdir(mode=0o700)
                self._etcd_ports = (free_port(), free_port())
            elif attempt:
                time.sleep(1.0)
            client, peer = self._etcd_ports
            self.etcd_url = f"http://127.0.0.1:{client}"
            peer_url = f"http://127.0.0.1:{peer}"
            offset = self.etcd_log.stat().st_size if self.etcd_log.exists() else 0
            argv = [
                str(self._etcd_bin),
                f"--name={self.name}",
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster={self.name}={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ]
            self.etcd = self._spawn(argv, self.etcd_log)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.etcd.poll() is not None:
                    break
                with (
                    contextlib.suppress(OSError, ValueError),
                    urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as r,
                ):
                    if json.loads(r.read()).get("health") == "true":
                        return
                time.sleep(0.1)
            self._stop_proc(self.etcd)
            self.etcd = None
            last = _tail(self.etcd_log, offset=offset)
            if "address already in use" not in last:
                break
        raise ControlPlaneError(f"etcd did not become healthy; log tail ({self.etcd_log}):\n{last}")

    # -- kube-apiserver ---------------------------------------------------------------------------
    def _write_auth_files(self) -> None:
        d = self._dir()
        (d / "pki").mkdir(exist_ok=True)
        tokens = d / "tokens.csv"
        tokens.write_text(
            f'{self.admin_token},{ADMIN_USER},uid-{ADMIN_USER},"system:masters"\n'
            f"{self.restricted_token},{RESTRICTED_USER},uid-{RESTRICTED_USER}\n"
        )
        tokens.chmod(0o600)
        sa_key = d / "sa.key"
        if not sa_key.exists():
            _write_rsa_key(sa_key)

    def _apiserver_argv(self) -> list[str]:
        d = self._dir()
        return [
            str(self._apiserver_bin),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--cert-dir={d / 'pki'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            f"--service-account-issuer=https://127.0.0.1:{self.api_port}",
            f"--service-account-key-file={d / 'sa.key'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            *self.extra_apiserver_args,
        ]

    def _start_apiserver(self, timeout: float | None = None, keep_port: bool = False) -> None:
        """Start kube-apiserver and wait for the authenticated /readyz. On a first start a port taken
        meanwhile is replaced by another; on a restart (``keep_port``) the same port is retried."""
        timeout = self.startup_timeout if timeout is None else timeout
        last, status = "", "not started"
        for attempt in range(3):
            if attempt and not keep_port:  # the port was taken between free_port() and bind
                self.api_port = free_port()
            elif attempt:
                time.sleep(1.0)
            offset = self.apiserver_log.stat().st_size if self.apiserver_log.exists() else 0
            self.apiserver = self._spawn(self._apiserver_argv(), self.apiserver_log)
            status = self._wait_ready(self.apiserver, timeout)
            if status == "ready":
                return
            self._stop_proc(self.apiserver)
            self.apiserver = None
            last = _tail(self.apiserver_log, offset=offset)
            if "address already in use" not in last:
                break
        raise ControlPlaneError(
            f"kube-apiserver not ready within {timeout:.0f} s ({status}); log tail "
            f"({self.apiserver_log}):\n{last}"
        )

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        status = "no answer"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"exited with {proc.returncode}"
            if self.ca_file.exists():
                try:
                    ctx = ssl.create_default_context(cafile=str(self.ca_file))
                    req = urllib.request.Request(
                        f"{self.url}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"}
                    )
                    with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
                        if r.status == 200:
                            return "ready"
                except urllib.error.HTTPError as e:
                    status = f"/readyz HTTP {e.code}"
                except (OSError, ssl.SSLError, ValueError) as e:
                    status = f"/readyz {type(e).__name__}: {e}"
            time.sleep(0.25)
        return status

    def _write_kubeconfigs(self) -> None:
        for path, user, token in (
            (self.admin_kubeconfig, ADMIN_USER, self.admin_token),
            (self.restricted_kubeconfig, RESTRICTED_USER, self.restricted_token),
        ):
            cfg = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": self.name,
                        "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                    }
                ],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [{"name": user, "context": {"cluster": self.name, "user": user}}],
                "current-context": user,
            }
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            path.chmod(0o600)

    # -- clients ----------------------------------------------------------------------------------
    def _client(self, kubeconfig: Path) -> ApiClient:
        from kubernetes import config

        client = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        self._clients.append(client)
        return client

    def admin_client(self) -> ApiClient:
        """A ``kubernetes.client.ApiClient`` for ``kfconf-admin`` (group system:masters)."""
        return self._client(self.admin_kubeconfig)

    def restricted_client(self) -> ApiClient:
        """A ``kubernetes.client.ApiClient`` for ``kfconf-tenant`` (no groups: only what RBAC grants)."""
        return self._client(self.restricted_kubeconfig)

    def _admin(self) -> ApiClient:
        if self._admin_cached is None:
            self._admin_cached = self.admin_client()
        return self._admin_cached

    def kubectl(
        self, *args: str, restricted: bool = False, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the PyPI kubectl against this plane (admin, or the restricted identity)."""
        kc = self.restricted_kubeconfig if restricted else self.admin_kubeconfig
        return subprocess.run(
            [str(kubectl_path()), f"--kubeconfig={kc}", *args],
            capture_output=True,
            text=True,
            input=input,
            check=check,
            timeout=120,
        )

    # -- API helpers ------------------------------------------------------------------------------
    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        dry_run: bool = False,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        force: bool = True,
        namespace: str | None = None,
        client: ApiClient | None = None,
        warnings: list[str] | None = None,
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` as admin (or with ``client``); see :func:`server_side_apply`."""
        return server_side_apply(
            client or self._admin(),
            obj,
            dry_run=dry_run,
            field_manager=field_manager,
            force=force,
            namespace=namespace,
            cache=self._resource_cache if client is None else None,
            warnings=warnings,
        )

    def delete(self, obj: Mapping[str, Any], *, wait: float = 30.0, namespace: str | None = None) -> bool:
        """Delete ``obj`` (as admin, Background propagation) and wait until it is gone; False if it was
        not there. No controller-manager runs: dependents are not garbage-collected, and a namespace
        would stay Terminating forever — delete the objects, not their namespace."""
        from kubernetes.client.exceptions import ApiException

        client = self._admin()
        meta = obj.get("metadata") or {}
        res = resolve_resource(client, str(obj["apiVersion"]), str(obj["kind"]), self._resource_cache)
        path = res.path(str(meta["name"]), meta.get("namespace") or namespace)
        call = dict(header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
                    response_type="object", _return_http_data_only=True)
        try:
            client.call_api(path, "DELETE", query_params=[("propagationPolicy", "Background")], **call)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                client.call_api(path, "GET", **call)
            except ApiException as e:
                if e.status == 404:
                    return True
                raise
            time.sleep(0.1)
        raise ControlPlaneError(f"{object_ref(obj)} still exists {wait:.0f} s after DELETE (finalizers?)")

    def new_namespace(self, prefix: str = "test") -> str:
        """Create (as admin) a fresh namespace ``<prefix>-<random>`` and return its name."""
        base = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:50] or "test"
        name = f"{base}-{secrets.token_hex(4)}"
        self.ensure_namespace(name)
        return name

    def ensure_namespace(self, name: str) -> None:
        """Create the namespace ``name`` (as admin) unless it exists."""
        from kubernetes.client.exceptions import ApiException

        try:
            self._admin().call_api(
                "/api/v1/namespaces",
                "POST",
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                header_params={"Content-Type": "application/json", "Accept": "application/json"},
                auth_settings=["BearerToken"],
                response_type="object",
                _return_http_data_only=True,
            )
        except ApiException as e:
            if e.status != 409:
                raise

    def install_crds(
        self,
        files: Sequence[Path] = (),
        *,
        extra: Sequence[Mapping[str, Any]] = (),
        crds: Sequence[Mapping[str, Any]] | None = None,
        timeout: float = 60.0,
    ) -> list[str]:
        """Apply the CRDs in ``files`` (patch files applied, see :func:`load_crds`) and ``extra`` (or the
        loaded ``crds``), then wait until each is Established. Returns the CRD names."""
        crds = list(crds) if crds is not None else load_crds(files) + [dict(c) for c in extra]
        names = []
        for crd in crds:  # sequential: the apiserver is CPU-bound here, parallel applies were slower
            self.apply(crd, field_manager="kfconf-crd-install")
            names.append(crd["metadata"]["name"])
        self.wait_crds_established(names, timeout=timeout)
        self.installed_crds.extend(n for n in names if n not in self.installed_crds)
        self._resource_cache.clear()
        return names

    def wait_crds_established(self, names: Iterable[str], timeout: float = 60.0) -> None:
        pending = set(names)
        deadline = time.monotonic() + timeout
        client = self._admin()
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                crd = client.call_api(
                    f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                    "GET",
                    header_params={"Accept": "application/json"},
                    auth_settings=["BearerToken"],
                    response_type="object",
                    _return_http_data_only=True,
                )
                conds = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}
                if conds.get("NamesAccepted", {}).get("status") == "False":
                    raise ControlPlaneError(f"CRD {name}: {conds['NamesAccepted'].get('message')}")
                if conds.get("Established", {}).get("status") == "True":
                    pending.discard(name)
            if pending:
                time.sleep(0.2)
        if pending:
            raise ControlPlaneError(f"CRDs not Established within {timeout:.0f} s: {sorted(pending)}")


def _write_rsa_key(path: Path) -> None:
    """An RSA private key (PEM) for the service-account flags, via openssl or the ``cryptography`` package."""
    openssl = shutil.which("openssl")
    if openssl:
        subprocess.run(
            [openssl, "genrsa", "-out", str(path), "2048"], check=True, capture_output=True, timeout=60
        )
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    path.chmod(0o600)
