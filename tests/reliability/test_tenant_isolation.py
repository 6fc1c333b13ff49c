"""Tenant isolation against the real API server: a tenant syncer for namespace A, installed from
`kfconf syncer manifests --tenant A` by the admin, tries to reach beyond A — another namespace, cluster-scoped
kinds, a RoleBinding to cluster-admin, a project whose overlay moves it to namespace B, workloads running as a
privileged ServiceAccount — in two layers:

1. kfconf's lockdown: `kfconf sync --tenant-namespace A --as <the syncer's ServiceAccount>` must refuse every
   attempt with KF603 and apply nothing; the same refusal comes with a dead API server (before any call).
2. RBAC, the lockdown bypassed: the same objects sent straight to the API server with the tenant's
   credentials (the syncer's ServiceAccount, impersonated, and the restricted user bound to its Role).

An escape is an attempt whose object exists in the cluster afterwards. Two tenants: one with the default
kinds, one that opted in to Role, RoleBinding, Deployment and Secret. Some attempts stay inside A and use
only what A's own RBAC grants (a Job running as another ServiceAccount of A: RBAC cannot see into a pod
template): for those the lockdown is the only line; they are counted apart ("inside") and reported.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfconf.build import build_project
from kfconf.build.emit import render_tree
from kfconf.cli.main import main
from kfconf.core.errors import FindingsError
from kfconf.core.source import Loc
from kfconf.gitops.publish import SourceInfo, publish
from kfconf.sync.health import build_registry
from kfconf.sync.kube import Kube, KubeError, MissingKind
from kfconf.sync.manager import ResourceManager, SyncOptions
from kfconf.sync.objects import ref_of
from kfconf.sync.source import Manifest
from kfconf.sync.tenant import DEFAULT_KINDS, TenantPolicy, parse_kinds
from kfconf.testing.controlplane import RESTRICTED_USER, ControlPlane
from kfconf.testing.faults import until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
RBAC = "rbac.authorization.k8s.io/v1"
PROJECT = {"kfconf.dev/project": "demo"}
OPT_IN = ",".join((*DEFAULT_KINDS, "Role", "RoleBinding", "Deployment", "Secret"))


def kfconf(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def meta(name: str, ns: str | None = None) -> dict[str, Any]:
    return {"name": name, **({"namespace": ns} if ns else {}), "labels": dict(PROJECT)}


def pod_spec(sa: str) -> dict[str, Any]:
    return {"serviceAccountName": sa, "automountServiceAccountToken": True, "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox",
                            "command": ["sh", "-c", "cat /var/run/secrets/*/*/token"]}]}


def job(ns: str, name: str, sa: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, ns),
            "spec": {"suspend": True, "template": {"spec": pod_spec(sa)}}}


def deployment(ns: str, name: str, sa: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, ns),
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {**pod_spec(sa), "restartPolicy": "Always"}}}}


@dataclass
class Attempt:
    name: str
    objects: list[dict[str, Any]]
    """What git would hold (the last object is the one that must not land; the others come with it)."""
    inside: bool = False
    """Stays in A using only A's own grants: RBAC may accept it, the lockdown must not."""

    @property
    def target(self) -> dict[str, Any]:
        return self.objects[-1]


def attempts(a: str, b: str, opted_in: bool) -> list[Attempt]:
    cluster_admin = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}
    me = {"kind": "ServiceAccount", "name": "kfconf-syncer", "namespace": a}
    out = [
        Attempt("ConfigMap in another namespace", [{"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": meta("grab", b), "data": {"x": "1"}}]),
        Attempt("TrainJob in another namespace", [{"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                                                   "metadata": meta("grab", b),
                                                   "spec": {"runtimeRef": {"name": "torch-distributed"},
                                                            "suspend": True}}]),
        Attempt("Namespace", [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta(f"{a}-grab")}]),
        Attempt("ClusterRole", [{"apiVersion": RBAC, "kind": "ClusterRole", "metadata": meta(f"{a}-grab"),
                                 "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}]),
        Attempt("ClusterRoleBinding to cluster-admin", [{"apiVersion": RBAC, "kind": "ClusterRoleBinding",
                                                         "metadata": meta(f"{a}-grab"), "roleRef": cluster_admin,
                                                         "subjects": [me]}]),
        Attempt("Profile", [{"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": meta(f"{a}-grab"),
                             "spec": {"owner": {"kind": "User", "name": "mallory@example.com"}}}]),
        Attempt("ClusterTrainingRuntime", [{"apiVersion": "trainer.kubeflow.org/v1alpha1",
                                            "kind": "ClusterTrainingRuntime", "metadata": meta(f"{a}-grab"),
                                            "spec": {"template": {"spec": {}}}}]),
        Attempt("RoleBinding to cluster-admin in its own namespace", [{
            "apiVersion": RBAC, "kind": "RoleBinding", "metadata": meta("grab", a), "roleRef": cluster_admin,
            "subjects": [me]}]),
        Attempt("RoleBinding in another namespace", [{
            "apiVersion": RBAC, "kind": "RoleBinding", "metadata": meta("grab", b),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeflow-edit"},
            "subjects": [me]}]),
        Attempt("Pod mounting the token of a cluster-admin ServiceAccount", [{
            "apiVersion": "v1", "kind": "Pod", "metadata": meta("grab", a), "spec": pod_spec("platform-bot")}]),
        Attempt("Deployment running as a cluster-admin ServiceAccount", [deployment(a, "grab", "platform-bot")],
                inside=opted_in),
        Attempt("Job running as a cluster-admin ServiceAccount", [job(a, "grab", "platform-bot")], inside=True),
        Attempt("Job running as the syncer's own ServiceAccount", [job(a, "grab-syncer", "kfconf-syncer")],
                inside=True),
        Attempt("PodDefault putting the syncer's ServiceAccount on every pod", [{
            "apiVersion": "kubeflow.org/v1alpha1", "kind": "PodDefault", "metadata": meta("grab", a),
            "spec": {"desc": "x", "selector": {"matchLabels": {"any": "pod"}},
                     "serviceAccountName": "kfconf-syncer", "automountServiceAccountToken": True}}], inside=True),
        Attempt("Job running as a ServiceAccount the source claims but the platform owns", [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("platform-bot", a)},
            job(a, "grab-claimed", "platform-bot")], inside=True),
        Attempt("Secret holding a token of the syncer's ServiceAccount", [{
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {**meta("grab", a), "annotations": {"kubernetes.io/service-account.name": "kfconf-syncer"}}}],
            inside=opted_in),
        Attempt("Role with wildcards", [{"apiVersion": RBAC, "kind": "Role", "metadata": meta("grab", a),
                                         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}],
                inside=opted_in),
        Attempt("ConfigMap of a same-named kind from another group", [{
            "apiVersion": "evil.example.com/v1", "kind": "ConfigMap", "metadata": meta("grab", a)}]),
    ]
    return out


@dataclass
class Tally:
    attempts: int = 0
    lockdown_refused: int = 0
    lockdown_escapes: int = 0
    rbac_requests: int = 0
    rbac_refused: Counter[str] = field(default_factory=Counter)
    """HTTP status (or 'unserved') → how many direct requests were refused that way."""
    rbac_accepted_inside: list[str] = field(default_factory=list)
    escapes: list[str] = field(default_factory=list)

    def line(self, who: str) -> str:
        return (f"{who}: {self.attempts} attempts; lockdown refused {self.lockdown_refused} (KF603, nothing applied), "
                f"escapes {self.lockdown_escapes}; lockdown bypassed: {self.rbac_requests} direct requests, refused "
                f"{sum(self.rbac_refused.values())} ({dict(self.rbac_refused)}), accepted inside A "
                f"{len(self.rbac_accepted_inside)} {sorted(set(self.rbac_accepted_inside))}, "
                f"escapes {len(self.escapes)}")


def exists(admin: Kube, obj: dict[str, Any]) -> bool:
    try:
        return admin.get(ref_of(obj)) is not None
    except MissingKind:
        return False


def remove(admin: Kube, obj: dict[str, Any]) -> None:
    with contextlib.suppress(MissingKind, KubeError):
        admin.delete(ref_of(obj))


def install_tenant(cp: ControlPlane, admin: Kube, gitops: Path, kinds: str | None) -> tuple[str, Kube, Kube]:
    """Namespace A, the syncer from `kfconf syncer manifests`, a platform ServiceAccount bound to cluster-admin
    living in A, and the restricted user bound to the syncer's Roles. Returns A and the two identities."""
    a = cp.new_namespace("tenant")
    extra = ["--allow-kinds", kinds] if kinds else []
    code, out, err = kfconf("syncer", "manifests", "--tenant", a, "--repo", str(gitops), "--path", f"x/{a}", *extra)
    assert code == 0, err
    for doc in yaml.safe_load_all(out):
        if doc:
            admin.apply(doc, force=True)
    admin.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "platform-bot", "namespace": a}},
                force=True)
    admin.apply({"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": f"{a}-platform-bot"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                 "subjects": [{"kind": "ServiceAccount", "name": "platform-bot", "namespace": a}]}, force=True)
    for role in ("kfconf-syncer", "kfconf-syncer-namespace"):
        admin.apply({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": f"user-{role}", "namespace": a},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RESTRICTED_USER}]},
                    force=True)
    sa = Kube(cp.admin_client(), field_manager="kfconf", impersonate=f"system:serviceaccount:{a}:kfconf-syncer")
    user = Kube(cp.restricted_client(), field_manager="kfconf")
    for who in (sa, user):
        assert until(lambda w=who: w.list("v1", "ConfigMap", a) is not None, timeout=15), "RBAC never took effect"
    return a, sa, user


def lockdown_layer(cp: ControlPlane, admin: Kube, gitops: Path, a: str, kinds: str | None, at: Attempt,
                   tally: Tally) -> None:
    folder = f"attempts/{a}/{at.name.lower().replace(' ', '-').replace(chr(39), '')}"
    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("good", a), "data": {"v": "1"}}
    docs = [good, *at.objects]
    files = {f"{i:02d}.yaml": yaml.safe_dump(d) for i, d in enumerate(docs)}
    publish(files, repo=str(gitops), path=folder, branch="main",
            source=SourceInfo("attacker", "b" * 40, False, "demo", None, "s"))
    extra = ["--allow-kinds", kinds] if kinds else []
    code, _out, err = kfconf("sync", "--once", "--repo", str(gitops), "--path", folder, "--cache-dir",
                             str(gitops.parent / "cache"), "--tenant-namespace", a, *extra, "--kubeconfig",
                             str(cp.admin_kubeconfig), "--as", f"system:serviceaccount:{a}:kfconf-syncer")
    landed = [d for d in docs if exists(admin, d)]
    if at.name.startswith("Job running as a ServiceAccount the source claims"):
        landed = [d for d in landed if d["kind"] != "ServiceAccount"]  # the platform's own account, not the attempt's
    refused = code == 1 and "error[KF603]" in err and not landed
    tally.lockdown_refused += refused
    tally.lockdown_escapes += bool([d for d in landed if d is at.target])
    assert refused, (at.name, code, err[-1500:], [ref_of(d).id for d in landed])


def offline_layer(a: str, kinds: str | None, at: Attempt, dead: Kube) -> None:
    """The lockdown's verdict with an API server that does not exist: it needs no call to refuse."""
    if at.name.startswith("Job running as a ServiceAccount the source claims"):
        return  # needs to see that the account is someone else's: refused after reading, before any write
    policy = TenantPolicy(a, frozenset(parse_kinds(kinds)))
    manager = ResourceManager(dead, build_registry(), SyncOptions(tenant=policy))
    with pytest.raises(FindingsError) as e:
        manager.reconcile([Manifest(d, Loc(f"{i}.yaml", 1, 1)) for i, d in enumerate(at.objects)])
    assert {d.code for d in e.value.diagnostics} == {"KF603"}, at.name


def rbac_layer(admin: Kube, who: Kube, at: Attempt, tally: Tally, a: str) -> None:
    body = at.target
    tally.rbac_requests += 1
    try:
        who.apply(body)
    except MissingKind:
        tally.rbac_refused["unserved"] += 1
    except KubeError as e:
        tally.rbac_refused[str(e.status)] += 1
    if exists(admin, body):
        ref = ref_of(body)
        if at.inside and ref.namespace == a:
            tally.rbac_accepted_inside.append(at.name)
        else:
            tally.escapes.append(f"{at.name}: {ref.id}")
        remove(admin, body)
        assert until(lambda: not exists(admin, body), timeout=30), f"cannot clean up {ref.id}"


@pytest.mark.parametrize("kinds", [None, OPT_IN], ids=["default-kinds", "opted-in-rbac-deployments-secrets"])
def test_a_tenant_syncer_cannot_reach_beyond_its_namespace(control_plane: ControlPlane, tmp_path: Path,
                                                           kinds: str | None) -> None:
    t0 = time.monotonic()
    admin = Kube(control_plane.admin_client(), field_manager="test-admin")
    gitops = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(gitops)], check=True)
    a, sa, user = install_tenant(control_plane, admin, gitops, kinds)
    b = control_plane.new_namespace("victim")
    dead = Kube(control_plane.admin_client())
    dead.api.configuration.host = "https://127.0.0.1:9"  # nothing listens there

    tally = Tally()
    cases = attempts(a, b, opted_in=kinds is not None)
    for at in cases:
        tally.attempts += 1
        offline_layer(a, kinds, at, dead)
        lockdown_layer(control_plane, admin, gitops, a, kinds, at, tally)
        for who in (sa, user):
            rbac_layer(admin, who, at, tally, a)
    print(f"\ntenant isolation ({'opted in: ' + kinds if kinds else 'default kinds'}) in "
          f"{time.monotonic() - t0:.1f} s\n  " + tally.line(a), file=sys.stderr)
    assert tally.lockdown_refused == tally.attempts == len(cases)
    assert tally.lockdown_escapes == 0
    assert tally.escapes == []
    # what RBAC lets through stays inside A and is exactly what A's own grants allow, for both identities: RBAC
    # cannot see a pod template's ServiceAccount, and a tenant allowed Roles holds `escalate` in A (RELIABILITY.md)
    inside = {at.name for at in cases if at.inside}
    assert sorted(tally.rbac_accepted_inside) == sorted([*inside, *inside])
    assert [o["metadata"]["name"] for o in admin.list("v1", "ConfigMap", b)] == []


def test_an_overlay_moving_the_project_to_another_namespace_is_refused(control_plane: ControlPlane,
                                                                       tmp_path: Path) -> None:
    """The churn example with an overlay that sets profile.namespace to B, built and published as a user would;
    A's syncer, pointed at the published environment, must refuse every object, and RBAC refuses each again."""
    t0 = time.monotonic()
    admin = Kube(control_plane.admin_client(), field_manager="test-admin")
    gitops = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(gitops)], check=True)
    a, sa, user = install_tenant(control_plane, admin, gitops, OPT_IN)
    b = control_plane.new_namespace("victim")
    project = tmp_path / "churn"
    shutil.copytree(REPO / "examples" / "churn", project, ignore=shutil.ignore_patterns(".kfconf"))
    spec = project / "ml-project.yaml"
    spec.write_text(spec.read_text().replace("namespace: team-growth", f"namespace: {a}"))
    (project / "overlays" / "hijack.yaml").write_text(
        f"apiVersion: kfconf.dev/v1alpha1\nkind: Overlay\nextends: prod\nspec:\n  profile:\n    namespace: {b}\n")
    built = build_project(project, "hijack", cwd=tmp_path)
    assert not built.diagnostics or all(d.severity != "error" for d in built.diagnostics)
    assert {r.namespace for r in built.resources} == {b, None}  # everything moved to B (and the Profile)
    publish(render_tree(built.resources), repo=str(gitops), path="churn/hijack", branch="main",
            source=SourceInfo("attacker", "c" * 40, False, "churn", "hijack", built.stack.name))

    common = ["sync", "--once", "--repo", str(gitops), "--cache-dir", str(tmp_path / "cache"), "--tenant-namespace",
              a, "--allow-kinds", OPT_IN, "--kubeconfig", str(control_plane.admin_kubeconfig),
              "--as", f"system:serviceaccount:{a}:kfconf-syncer"]
    refused: dict[str, int] = {}
    for folder in ("churn/hijack", f"churn/hijack/{b}"):
        code, _, err = kfconf(*common, "--path", folder)
        assert code == 1, err
        refused[folder] = err.count("error[KF603]")
    assert refused["churn/hijack"] == len(built.resources)
    assert refused[f"churn/hijack/{b}"] == len(built.resources) - 1  # all but the cluster-scoped Profile
    # the tenant's own folder is gone from the published tree: nothing applied, nothing pruned
    code, _, err = kfconf(*common, "--path", f"churn/hijack/{a}")
    assert code == 1 and "KF602" in err

    tally = Tally(attempts=len(built.resources), lockdown_refused=len(built.resources))
    for r in built.resources:
        at = Attempt(f"{r.kind} moved to {b}", [r.body])
        for who in (sa, user):
            rbac_layer(admin, who, at, tally, a)
        assert not exists(admin, r.body)
    print(f"\ntenant isolation, overlay to another namespace, in {time.monotonic() - t0:.1f} s\n  " + tally.line(a),
          file=sys.stderr)
    assert tally.escapes == [] and tally.rbac_accepted_inside == []
    assert sum(tally.rbac_refused.values()) == 2 * len(built.resources)
