"""Profile checks: the namespace is the project's own, and quotas can hold what the project asks."""

from __future__ import annotations

from collections.abc import Iterator

from kfconf.core.errors import Diagnostic
from kfconf.core.source import PathT
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack

RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "kubeflow",
                                 "istio-system", "knative-serving", "cert-manager", "auth"})


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    profile = project.profile
    given = (project.raw_at("metadata", "owner"), project.raw_at("spec", "profile", "owner"))
    if not any(given):  # an owner given but invalid is reported where it is written
        p = ("spec", "profile")
        yield Diagnostic("KF102", "expected an owner (spec.profile.owner or metadata.owner): the Profile "
                         "controller makes the owner the namespace admin", project.loc(p), p)
    path: PathT = ("spec", "profile", "namespace")
    if profile.namespace in RESERVED_NAMESPACES or profile.namespace.startswith("kube-"):
        yield Diagnostic("KF209", f"expected a namespace of the project's own, got the platform namespace "
                         f"'{profile.namespace}'", project.loc(path), path,
                         hint="a Kubeflow profile owns its namespace; pick a team namespace")
    names = [p.name for p in profile.pod_defaults]
    for i, name in enumerate(names):
        if name in names[:i]:
            at: PathT = ("spec", "profile", "podDefaults", i, "name")
            yield Diagnostic("KF107", f"expected unique PodDefault names, got '{name}' again", project.loc(at), at)
