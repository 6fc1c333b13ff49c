"""Fixtures for tests against a real kube-apiserver + etcd (see kfconf/testing/controlplane.py).

A plugin loaded by tests/conftest.py (not a conftest of tests/cluster/), so every directory — tests/cluster,
tests/reliability — shares the one session plane instead of starting its own.

* ``control_plane`` (session): a plane with the ``kubeflow-latest`` CRDs.
* ``control_plane_for`` (session): a factory ``stack -> ControlPlane``. Trainer 2.1 and 2.3 serve the same
  API group with different schemas, so every stack gets its own plane; planes for stacks other than
  ``kubeflow-latest`` are started lazily and only one of them lives at a time (the previous one is stopped
  first). ``kubeflow-latest`` and ``local`` share the session plane.
* ``namespace`` (function): a fresh namespace on ``control_plane`` per test.

Binaries missing? The fixture builds them with scripts/controlplane.sh (a cold build takes ~10-20 min;
CI should run ``scripts/controlplane.sh controlplane`` first). It never skips.
The CRDs come from ``<repo>/../shared/reference`` (or ``$KFCONF_REFERENCE_DIR``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kfconf.testing.binaries import ensure_binaries
from kfconf.testing.controlplane import ControlPlane
from kfconf.testing.stackcrds import crd_files_for_stack, standin_crds_for_stack

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "controlplane.sh"
LATEST = "kubeflow-latest"


def find_reference_dir() -> Path:
    env = os.environ.get("KFCONF_REFERENCE_DIR")
    ref = Path(env) if env else REPO.parent / "shared" / "reference"
    if not (ref / "crds").is_dir():
        pytest.fail(
            f"reference CRDs not found at {ref}/crds (a copy of shared/ beside the repository, "
            "or set KFCONF_REFERENCE_DIR)",
            pytrace=False,
        )
    return ref


def plane_key(stack: str) -> str:
    """Stacks whose CRD sets are identical share a plane."""
    return LATEST if stack in (LATEST, "local") else stack


class StackPlanes:
    """The session's control planes: the kubeflow-latest one, plus at most one other at a time."""

    def __init__(self, binaries: dict[str, Path], reference: Path):
        self.binaries = binaries
        self.reference = reference
        self.planes: dict[str, ControlPlane] = {}

    def get(self, stack: str) -> ControlPlane:
        key = plane_key(stack)
        plane = self.planes.get(key)
        if plane is not None:
            return plane
        if key != LATEST:  # save memory: one non-latest plane at a time
            for other in [k for k in self.planes if k != LATEST]:
                self.planes.pop(other).stop()
        plane = ControlPlane(
            crd_files=crd_files_for_stack(key, self.reference),
            extra_crds=standin_crds_for_stack(key),
            apiserver_bin=self.binaries["kube-apiserver"],
            etcd_bin=self.binaries["etcd"],
            name=key.replace(".", "-"),
        )
        plane.start()
        print(
            f"\ncontrol plane {key}: ready in {plane.timings['ready_s']:.1f} s "
            f"(apiserver {plane.timings['apiserver_ready_s']:.1f} s, "
            f"{len(plane.installed_crds)} CRDs {plane.timings['crds_established_s']:.1f} s) at {plane.url}",
            file=sys.stderr,
        )
        self.planes[key] = plane
        return plane

    def close(self) -> None:
        for key in list(self.planes):
            self.planes.pop(key).stop()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``shared/reference`` (upstream CRDs …): ``<repo>/../shared/reference`` or ``$KFCONF_REFERENCE_DIR``."""
    return find_reference_dir()


@pytest.fixture(scope="session")
def controlplane_binaries() -> dict[str, Path]:
    """kube-apiserver and etcd, built by scripts/controlplane.sh if not yet in the cache."""
    return ensure_binaries(SCRIPT, "controlplane")


@pytest.fixture(scope="session")
def stack_planes(controlplane_binaries: dict[str, Path]) -> Iterator[StackPlanes]:
    planes = StackPlanes(controlplane_binaries, find_reference_dir())
    try:
        yield planes
    finally:
        planes.close()


@pytest.fixture(scope="session")
def control_plane(stack_planes: StackPlanes) -> ControlPlane:
    """The session's plane with the kubeflow-latest CRDs (Trainer 2.3 and every shared CRD)."""
    return stack_planes.get(LATEST)


@pytest.fixture(scope="session")
def control_plane_for(stack_planes: StackPlanes) -> Callable[[str], ControlPlane]:
    """Factory: ``control_plane_for("kubeflow-26.03")`` -> that stack's plane (started lazily)."""
    return stack_planes.get


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    """A fresh namespace on ``control_plane`` for this test (left behind: no controller deletes them)."""
    return control_plane.new_namespace(request.node.originalname or "test")
