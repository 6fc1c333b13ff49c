"""The whole path with a real example: build → publish to a GitOps repository → the platform syncs the
cluster-scoped part, the tenant's syncer (its ServiceAccount, from `kfconf syncer manifests`) syncs the
project's namespace folder → status. Every object lands on the real API server with the stack's CRDs."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sync_helpers import until  # type: ignore[import-not-found]

from kfconf.build import build_project
from kfconf.build.emit import render_tree
from kfconf.cli.main import main
from kfconf.gitops.publish import SourceInfo, publish
from kfconf.sync.kube import Kube
from kfconf.testing.controlplane import ControlPlane

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[3]


def kfconf(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_publish_then_platform_and_tenant_syncers(tmp_path: Path, control_plane: ControlPlane, kube: Kube) -> None:
    ns = control_plane.new_namespace("churn")  # what the profile controller would create for the Profile
    project = tmp_path / "churn"
    shutil.copytree(REPO / "examples" / "churn", project)
    spec = project / "ml-project.yaml"
    spec.write_text(spec.read_text().replace("namespace: team-growth", f"namespace: {ns}"))
    built = build_project(project, "prod", cwd=tmp_path)
    files = render_tree(built.resources)
    gitops = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(gitops)], check=True)
    source = SourceInfo("examples/churn", "0" * 40, False, "churn", "prod", built.stack.name)
    assert publish(files, repo=str(gitops), path="churn/prod", branch="main", source=source).commit

    cluster_scoped = [r for r in built.resources if r.namespace is None]
    namespaced = [r for r in built.resources if r.namespace == ns]
    assert {r.kind for r in cluster_scoped} == {"Profile"} and len(namespaced) == len(built.resources) - 1
    common = ["--once", "--repo", str(gitops), "--cache-dir", str(tmp_path / "cache"), "-o", "json"]

    # the platform's syncer (admin) applies the cluster-scoped part; its inventory stays in its own namespace
    platform_ns = control_plane.new_namespace("kfconf-system")
    code, out, err = kfconf("sync", *common, "--path", "churn/prod/_cluster", "--namespace", platform_ns,
                            "--kubeconfig", str(control_plane.admin_kubeconfig))
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)["resources"]] == [f"Profile/{ns}"]

    # the tenant's syncer: install it, then run as its ServiceAccount on the namespace folder
    kinds = "ConfigMap,ServiceAccount,Job,CronJob,Experiment,TrainJob,TrainingRuntime,InferenceService," \
            "ScheduledSparkApplication,Pipeline,PipelineVersion,Role,RoleBinding"
    code, manifests, err = kfconf("syncer", "manifests", "--tenant", ns, "--repo", str(gitops),
                                  "--path", f"churn/prod/{ns}", "--allow-kinds", kinds)
    assert code == 0, err
    control_plane.kubectl("apply", "--server-side", "-f", "-", input=manifests)
    # the ClusterRole kfconf binds contributors to exists on a Kubeflow cluster
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "kubeflow-edit"}, "rules": []}, force=True)
    sa = f"system:serviceaccount:{ns}:kfconf-syncer"
    args = ["sync", *common, "--path", f"churn/prod/{ns}", "--tenant-namespace", ns, "--allow-kinds", kinds,
            "--kubeconfig", str(control_plane.admin_kubeconfig), "--as", sa]
    result = until(lambda: (r := kfconf(*args))[0] == 0 and r, timeout=15)
    assert result, kfconf(*args)[2]
    report = json.loads(result[1])
    assert {r["action"] for r in report["resources"]} == {"created"}
    assert sorted(r["id"] for r in report["resources"]) == sorted(r.id for r in namespaced)

    # live objects carry the build's provenance, and a second round is a no-op
    trainjob = next(r for r in namespaced if r.kind == "TrainJob")
    live = kube.list(trainjob.api_version, "TrainJob", ns)
    assert [t["metadata"]["annotations"]["kfconf.dev/source"] for t in live] == \
        [trainjob.body["metadata"]["annotations"]["kfconf.dev/source"]]
    code, out, err = kfconf(*args)
    assert code == 0, err
    assert {r["action"] for r in json.loads(out)["resources"]} == {"unchanged"}

    code, out, err = kfconf("status", "-n", ns, "--kubeconfig", str(control_plane.admin_kubeconfig), "--as", sa,
                            "-o", "json")
    status = json.loads(out)
    assert code == 0, (err, out)
    tenant = next(s for s in status if s["environment"] == "prod")
    health = {r["id"]: r["health"] for r in tenant["resources"]}
    assert health[trainjob.id] == "Progressing"  # no Trainer controller here: created, not yet running
    assert all(h in ("Healthy", "Progressing") for h in health.values()), health
