"""`kfconf schemas import --from-cluster` against a real kube-apiserver: the platform's own CRDs win."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kfconf.build.outcheck import check_resources
from kfconf.core.resource import Resource
from kfconf.core.source import Loc
from kfconf.spec.stacks import load_stack
from kfconf.testing.binaries import ensure_binaries
from kfconf.testing.controlplane import ControlPlane
from tests.build.test_outcheck import CUSTOM_CRD, trainjob

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"
pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """A cluster whose Trainer is 2.1 (the 26.03 platform) and that has one CRD kfconf does not ship."""
    bins = ensure_binaries(ROOT / "scripts" / "controlplane.sh", "controlplane")
    with ControlPlane(crd_files=[REFERENCE / "crds/trainer.kubeflow.org/v2.1.0/trainer.kubeflow.org_trainjobs.yaml"],
                      extra_crds=[yaml.safe_load(CUSTOM_CRD)], apiserver_bin=bins["kube-apiserver"],
                      etcd_bin=bins["etcd"], name="schemas-import") as p:
        yield p


def test_import_from_cluster_overrides_the_stack(plane: ControlPlane, tmp_path: Path) -> None:
    project = tmp_path / "p"
    subprocess.run([sys.executable, "-m", "kfconf.cli.main", "init", str(project)], check=True, capture_output=True)
    r = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "schemas", "import", "--from-cluster",
                        "--kubeconfig", str(plane.admin_kubeconfig), "-p", str(project),
                        "--group", "trainer.kubeflow.org", "--group", "example.com"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    local = project / ".kfconf" / "schemas"
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*.json")) == \
        ["example.com/Widget.json", "trainer.kubeflow.org/TrainJob.json"]
    doc = json.loads((local / "trainer.kubeflow.org/TrainJob.json").read_text())
    assert doc["source"].startswith("cluster https://127.0.0.1:")
    # kubeflow-latest names Trainer 2.3, but this cluster runs 2.1: its CRD decides
    latest = load_stack("kubeflow-latest")
    origin = Loc("ml-project.yaml", 1, 1)
    patched = trainjob(runtimePatches=[{"manager": "kfconf.dev/build"}])
    assert check_resources([Resource(body=patched, origin=origin)], latest) == []
    found = check_resources([Resource(body=patched, origin=origin)], latest, local_dirs=[local])
    assert any(d.code == "KF401" and "spec.runtimePatches: unknown field" in d.message for d in found)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"},
              "spec": {"size": 3}}
    found = check_resources([Resource(body=widget, origin=origin)], latest, local_dirs=[local])
    assert [(d.code, "size must be even" in d.message) for d in found] == [("KF402", True)]


def test_import_from_an_unreachable_cluster_is_an_external_error(tmp_path: Path) -> None:
    project = tmp_path / "p"
    subprocess.run([sys.executable, "-m", "kfconf.cli.main", "init", str(project)], check=True, capture_output=True)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
        "users": [{"name": "x", "user": {"token": "t"}}]}))
    r = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "schemas", "import", "--from-cluster",
                        "--kubeconfig", str(kubeconfig), "-p", str(project)], capture_output=True, text=True)
    assert r.returncode == 2 and "cannot list CustomResourceDefinitions" in r.stderr and "Traceback" not in r.stderr
