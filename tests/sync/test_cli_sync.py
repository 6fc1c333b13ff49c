"""`kfconf sync`, `status` and `syncer manifests` at the command line, without a cluster: usage errors,
an unreachable API server, and the shape of the install manifests (least privilege)."""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

import pytest
import yaml

from kfconf.cli.main import main
from kfconf.sync.manifests import rbac_rules
from kfconf.sync.tenant import DEFAULT_KINDS


def kfconf(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "gitops"
    (r / "ns").mkdir(parents=True)
    (r / "ns" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns, "
                                      "labels: {kfconf.dev/project: p}}\n")
    for args in (["init", "-q", "--initial-branch=main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=r, check=True)
    return r


def dead_kubeconfig(tmp_path: Path) -> Path:
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}))
    return kc


def test_an_unreachable_api_server_is_exit_2_without_a_traceback(tmp_path: Path, repo: Path) -> None:
    code, _, err = kfconf("sync", "--once", "--repo", str(repo), "--cache-dir", str(tmp_path / "c"),
                          "--kubeconfig", str(dead_kubeconfig(tmp_path)))
    assert code == 2 and "cannot reach the API server https://127.0.0.1:9" in err and "Traceback" not in err
    code, _, err = kfconf("status", "-n", "ns", "--kubeconfig", str(dead_kubeconfig(tmp_path)))
    assert code == 2 and "cannot reach" in err


def test_usage_errors_are_exit_2(tmp_path: Path, repo: Path) -> None:
    base = ["sync", "--once", "--repo", str(repo), "--cache-dir", str(tmp_path / "c"),
            "--kubeconfig", str(dead_kubeconfig(tmp_path))]
    assert kfconf(*base, "--allow-kinds", "ConfigMap")[0] == 2  # needs --tenant-namespace
    code, _, err = kfconf("sync", "--once", "--repo", str(tmp_path / "nope"))
    assert code == 2 and "no such repository" in err
    code, _, err = kfconf(*base, "--path", "../x")
    assert code == 2 and "inside the repository" in err
    with pytest.raises(SystemExit):
        kfconf(*base, "--interval", "soon")


def test_syncer_manifests_are_namespaced_and_least_privilege() -> None:
    code, out, _ = kfconf("syncer", "manifests", "--tenant", "team-a", "--repo", "https://git.example/r.git",
                          "--path", "envs/prod/team-a", "--verify-key-configmap", "release-keys")
    assert code == 0
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert {d["kind"] for d in docs} == {"ServiceAccount", "Role", "RoleBinding", "Deployment"}
    assert all(d["metadata"]["namespace"] == "team-a" for d in docs)
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "kfconf-syncer")
    groups = {g for r in role["rules"] for g in r["apiGroups"]}
    assert "rbac.authorization.k8s.io" not in groups and "*" not in groups
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in role["rules"])
    own_ns = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "kfconf-syncer-namespace")
    assert own_ns["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["team-a"],
                                "verbs": ["get"]}]
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--tenant-namespace") + 1] == "team-a"
    assert args[args.index("--verify-key") + 1] == "/etc/kfconf/keys/allowed.asc"
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert deploy["spec"]["strategy"] == {"type": "Recreate"} and deploy["spec"]["replicas"] == 1
    assert "&id" not in out and "*id" not in out  # plain YAML, no anchors

    code, _, err = kfconf("syncer", "manifests", "--tenant", "Team_A", "--repo", "r")
    assert code == 2 and "DNS label" in err
    code, _, err = kfconf("syncer", "manifests", "--tenant", "t", "--repo", "r", "--allow-kinds", "Namespace")
    assert code == 2 and "cluster-scoped" in err


def test_rbac_kinds_are_opt_in_and_bounded() -> None:
    assert not any("rbac.authorization.k8s.io" in r["apiGroups"] for r in rbac_rules(DEFAULT_KINDS))
    rules = rbac_rules(("ConfigMap", "Role", "RoleBinding"), ("kubeflow-edit",))
    verbs = {(r["resources"][0], v) for r in rules if "rbac.authorization.k8s.io" in r["apiGroups"] for v in r["verbs"]}
    assert ("roles", "escalate") in verbs and ("roles", "bind") in verbs
    bind = next(r for r in rules if r["resources"] == ["clusterroles"])
    assert bind == {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"],
                    "resourceNames": ["kubeflow-edit"]}


def test_tenant_lockdown_flags(tmp_path: Path, repo: Path) -> None:
    base = ["sync", "--once", "--repo", str(repo), "--cache-dir", str(tmp_path / "c"),
            "--kubeconfig", str(dead_kubeconfig(tmp_path))]
    for flag in ("--bind-clusterroles", "--allow-service-accounts"):
        code, _, err = kfconf(*base, flag, "x")
        assert code == 2 and "needs --tenant-namespace" in err
    # a tenant's inventory is written in its own namespace, nowhere else
    code, _, err = kfconf(*base, "--tenant-namespace", "ns", "--namespace", "other")
    assert code == 2 and "own namespace ns" in err
    # the installed syncer's lockdown allows the ClusterRoles its RBAC lets it bind
    code, out, _ = kfconf("syncer", "manifests", "--tenant", "team-a", "--repo", "r", "--allow-kinds",
                          "ConfigMap,RoleBinding", "--bind-clusterroles", "kubeflow-admin,kubeflow-edit")
    args = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment")[
        "spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--bind-clusterroles") + 1] == "kubeflow-admin,kubeflow-edit"
    code, out, _ = kfconf("syncer", "manifests", "--tenant", "team-a", "--repo", "r")
    assert code == 0 and "--bind-clusterroles" not in out
