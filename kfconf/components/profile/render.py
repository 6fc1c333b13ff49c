"""Profile → the Kubeflow Profile (cluster-scoped; its name is the namespace), one RoleBinding per
contributor exactly as KFAM (the dashboard's "Manage contributors") writes it, and the PodDefaults the
profile offers to its notebooks and pods."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kfconf.build.context import RenderContext
from kfconf.components.k8s import RBAC_GROUP, Explain, dns_label, project_spec, scalar
from kfconf.core.resource import Resource

BASE = ("spec", "profile")
QUOTA = (("cpu", "cpu"), ("memory", "memory"), ("gpu", "requests.nvidia.com/gpu"),
         ("storage", "requests.storage"), ("pvcs", "persistentvolumeclaims"))
"""Spec quota key → ResourceQuota `hard` key (the Profile controller copies it to `kf-resource-quota`)."""
KFAM_ROLES = {"admin": "kubeflow-admin", "edit": "kubeflow-edit", "view": "kubeflow-view"}


def owner(ctx: RenderContext) -> tuple[str | None, tuple[str, ...]]:
    """The profile owner and the spec path it came from: spec.profile.owner, else metadata.owner."""
    profile = project_spec(ctx).profile
    if profile.owner:
        return profile.owner, (*BASE, "owner")
    return ctx.project.model.metadata.owner, ("metadata", "owner")


def binding_name(user: str, role: str) -> str:
    """KFAM's RoleBinding name for a user: `user-<email, non-alphanumerics as '-'>-clusterrole-<role>`
    (kubeflow/dashboard kfam bindings.go getBindingName), so the dashboard lists and removes it."""
    raw = "-".join(["User", re.sub(r"[^a-zA-Z0-9]+", "-", user), "ClusterRole", role]).lower()
    return re.sub(r"[^a-zA-Z0-9]+", "-", raw)


def profile_body(ctx: RenderContext, ex: Explain) -> dict[str, Any]:
    profile = project_spec(ctx).profile
    settings = ctx.stack.component("profiles")
    spec: dict[str, Any] = {}
    who, who_path = owner(ctx)
    if who:
        spec["owner"] = {"apiGroup": RBAC_GROUP, "kind": "User", "name": who}
        ex.at("spec.owner.name", who_path)
    hard: dict[str, str] = {}
    for key, quota_key in QUOTA:
        value = getattr(profile.quota, key) if profile.quota is not None else None
        if value is not None:
            hard[quota_key] = scalar(value)
            ex.spec(f"spec.resourceQuotaSpec.hard.{quota_key}", "quota", key)
    if hard:
        spec["resourceQuotaSpec"] = {"hard": hard}
    ex.spec("metadata.name", "namespace")
    ex.stack("apiVersion", "components.profiles.apiVersion")
    return {"apiVersion": settings.get("apiVersion", "kubeflow.org/v1"), "kind": "Profile",
            "metadata": {"name": profile.namespace}, "spec": spec}


def contributor_bindings(ctx: RenderContext) -> Iterator[Resource]:
    profile = project_spec(ctx).profile
    role = str(ctx.stack.component("profiles").get("contributorRole", "edit"))
    who, _ = owner(ctx)
    seen: set[str] = set()
    for i, user in enumerate(profile.contributors):
        if user == who or user in seen:  # the owner is already namespace admin
            continue
        seen.add(user)
        path = (*BASE, "contributors", i)
        body = {
            "apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding",
            "metadata": {"name": binding_name(user, role), "namespace": profile.namespace,
                         "annotations": {"role": role, "user": user}},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": KFAM_ROLES.get(role, role)},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": user}],
        }
        res = ctx.resource(body, path=path)
        res.explain.update({"subjects[0].name": ctx.origin(path),
                            "roleRef.name": ctx.stack_origin("components.profiles.contributorRole")})
        yield res


def pod_defaults(ctx: RenderContext) -> Iterator[Resource]:
    profile = project_spec(ctx).profile
    api = ctx.stack.component("profiles").get("podDefaultApiVersion", "kubeflow.org/v1alpha1")
    for i, pd in enumerate(profile.pod_defaults):
        ex = Explain(ctx, (*BASE, "podDefaults", i))
        spec: dict[str, Any] = {"selector": {"matchLabels": {pd.name: "true"}}, "desc": pd.description or pd.name}
        ex.spec("spec.selector", "name")
        if pd.description:
            ex.spec("spec.desc", "description")
        if pd.env:
            spec["env"] = [{"name": k, "value": scalar(v)} for k, v in pd.env.items()]
            ex.spec("spec.env", "env")
        if pd.secret_volumes:
            volumes: list[dict[str, Any]] = []
            mounts: list[dict[str, Any]] = []
            used: set[str] = set()
            for secret, mount_path in pd.secret_volumes.items():
                name = dns_label(secret)
                while name in used:  # two secret names that only differ in punctuation
                    name = dns_label(f"{name}-{len(used)}")
                used.add(name)
                volumes.append({"name": name, "secret": {"secretName": secret}})
                mounts.append({"name": name, "mountPath": mount_path, "readOnly": True})
            spec["volumes"], spec["volumeMounts"] = volumes, mounts
            ex.spec("spec.volumes", "secretVolumes")
            ex.spec("spec.volumeMounts", "secretVolumes")
        body = {"apiVersion": api, "kind": "PodDefault",
                "metadata": {"name": pd.name, "namespace": profile.namespace}, "spec": spec}
        res = ctx.resource(body, pd, path=(*BASE, "podDefaults", i))
        res.explain.update(ex.out)
        yield res


def render(ctx: RenderContext) -> Iterator[Resource]:
    profile = project_spec(ctx).profile
    ex = Explain(ctx, BASE)
    res = ctx.resource(profile_body(ctx, ex), profile)
    res.explain.update(ex.out)
    yield res
    yield from contributor_bindings(ctx)
    yield from pod_defaults(ctx)
