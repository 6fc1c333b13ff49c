"""Fixtures for the syncer's tests against the real kube-apiserver (the plane and `namespace` come from
tests/cluster/conftest.py; the helpers they use live in sync_helpers.py).

* ``gitops``: a GitOps repository on disk; ``gitops.put([...])`` makes one folder hold exactly those objects.
* ``sync``: ``kfconf sync --once`` in process (admin kubeconfig unless ``restricted=True``).
* ``kube``: the admin's ``kfconf.sync.kube.Kube``.
* ``bind_tenant(ns, kinds)``: grants the restricted identity the syncer's tenant Role in ``ns``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sync_helpers import GitOps, Sync, new_gitops, tenant_binder  # type: ignore[import-not-found]

from kfconf.sync.kube import Kube
from kfconf.testing.controlplane import ControlPlane


@pytest.fixture
def gitops(tmp_path: Path) -> GitOps:
    return new_gitops(tmp_path)


@pytest.fixture
def sync(control_plane: ControlPlane, gitops: GitOps, tmp_path: Path) -> Sync:
    return Sync(control_plane, gitops, tmp_path / "cache")


@pytest.fixture
def kube(control_plane: ControlPlane) -> Kube:
    return Kube(control_plane.admin_client(), field_manager="test-admin")


@pytest.fixture
def bind_tenant(control_plane: ControlPlane, kube: Kube) -> Callable[[str, tuple[str, ...]], None]:
    return tenant_binder(control_plane, kube)
