"""Kubernetes fragments shared by the component renderers: env, resources, volumes, placement, and the
collector of `--explain` provenance. They read the spec's shared types (kfconf.spec.types), so every
component spells a secret reference, a GPU or a toleration the same way."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kfconf.core.source import PathT
from kfconf.spec.types import ConfigMapRef, Placement, Resources, SecretRef, Volume

if TYPE_CHECKING:
    from kfconf.build.context import RenderContext

GPU = "nvidia.com/gpu"
RBAC_GROUP = "rbac.authorization.k8s.io"


def project_spec(ctx: RenderContext) -> Any:
    """The project's spec (its model class is assembled at run time from the component registry)."""
    return ctx.project.model.spec


def scalar(value: Any) -> str:
    """A spec scalar as Kubernetes wants strings: booleans as YAML spells them, numbers unpadded."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def env_list(env: dict[str, Any]) -> list[dict[str, Any]]:
    """`{A: 1, B: {secret: s, key: k}}` → EnvVar list in spec order; secrets stay references."""
    out: list[dict[str, Any]] = []
    for name, value in env.items():
        if isinstance(value, SecretRef):
            out.append({"name": name, "valueFrom": {"secretKeyRef": {"name": value.secret, "key": value.key}}})
        elif isinstance(value, ConfigMapRef):
            out.append({"name": name, "valueFrom": {"configMapKeyRef": {"name": value.config_map, "key": value.key}}})
        else:
            out.append({"name": name, "value": scalar(value)})
    return out


def resources(res: Resources) -> dict[str, Any]:
    """Requests equal limits unless `limits` says otherwise; GPUs are set in both (extended resources)."""
    requests: dict[str, Any] = {}
    if res.cpu is not None:
        requests["cpu"] = res.cpu
    if res.memory is not None:
        requests["memory"] = res.memory
    limits = dict(requests)
    if res.limits is not None:
        if res.limits.cpu is not None:
            limits["cpu"] = res.limits.cpu
        if res.limits.memory is not None:
            limits["memory"] = res.limits.memory
    if res.gpu:
        requests[GPU] = limits[GPU] = str(res.gpu)
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def volume(vol: Volume) -> dict[str, Any]:
    v: dict[str, Any] = {"name": vol.name}
    if vol.claim is not None:
        v["persistentVolumeClaim"] = {"claimName": vol.claim, **({"readOnly": True} if vol.read_only else {})}
    elif vol.config_map is not None:
        v["configMap"] = {"name": vol.config_map}
    elif vol.secret is not None:
        v["secret"] = {"secretName": vol.secret}
    else:
        v["emptyDir"] = {}
    return v


def volume_mount(vol: Volume) -> dict[str, Any]:
    m: dict[str, Any] = {"name": vol.name, "mountPath": vol.mount_path}
    if vol.read_only:
        m["readOnly"] = True
    return m


def tolerations(placement: Placement | None) -> list[dict[str, Any]]:
    if placement is None:
        return []
    return [t.model_dump(by_alias=True, exclude_none=True) for t in placement.tolerations]


def pod_placement(placement: Placement | None) -> dict[str, Any]:
    """nodeSelector, tolerations and priorityClassName of a PodSpec (empty keys left out)."""
    if placement is None:
        return {}
    out: dict[str, Any] = {}
    if placement.node_selector:
        out["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        out["tolerations"] = tolerations(placement)
    if placement.priority_class:
        out["priorityClassName"] = placement.priority_class
    return out


def dns_label(text: str, limit: int = 63) -> str:
    """`Bob@Example.com` → `bob-example-com`: lower case, runs of other characters become one '-'."""
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return label[:limit].rstrip("-") or "x"


class Explain:
    """Collects body field path → provenance (spec file:line, or the stack) for `kfconf build --explain`."""

    def __init__(self, ctx: RenderContext, base: PathT) -> None:
        self.ctx, self.base = ctx, base
        self.out: dict[str, str] = {}

    def spec(self, field_path: str, *spec_path: str | int) -> None:
        """The body field at `field_path` comes from the entry's field at `spec_path`."""
        self.out[field_path] = self.ctx.origin((*self.base, *spec_path))

    def at(self, field_path: str, path: PathT) -> None:
        """The body field comes from an absolute spec path (another entry, the profile …)."""
        self.out[field_path] = self.ctx.origin(path)

    def stack(self, field_path: str, what: str) -> None:
        self.out[field_path] = self.ctx.stack_origin(what)

    def fixed(self, field_path: str, why: str) -> None:
        """A value kfconf always sets, with the reason (an upstream convention or rule)."""
        self.out[field_path] = f"kfconf: {why}"
