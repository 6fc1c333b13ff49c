"""Profile checks: the namespace is the project's own, and quotas can hold what the project asks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kfconf.core.errors import Diagnostic
from kfconf.core.source import PathT
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack

RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "kubeflow",
                                 "istio-system", "knative-serving", "cert-manager", "auth"})


def _raw(data: Any, *keys: str) -> Any:
    """A value of the document as written (it may be malformed anywhere on the way)."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    profile = project.model.spec.profile
    given = (_raw(project.raw, "metadata", "owner"), _raw(project.raw, "spec", "profile", "owner"))
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
