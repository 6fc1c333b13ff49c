"""A generated Kubernetes object, with its identity and the spec location that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kfconf.core.source import Loc

CLUSTER_SCOPED = frozenset(
    {"Namespace", "Profile", "ClusterRole", "ClusterRoleBinding", "ClusterTrainingRuntime",
     "ClusterServingRuntime", "ClusterStorageContainer", "CustomResourceDefinition"}
)


@dataclass(slots=True)
class Resource:
    """`Kind/namespace/name` everywhere; `origin` is the spec line that produced it."""

    body: dict[str, Any]
    origin: Loc | None = None
    component: str = ""
    entry: str = ""
    explain: dict[str, str] = field(default_factory=dict)
    """Field path in the body → where its value came from (spec, overlay file:line, stack default)."""

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        ns = self.body["metadata"].get("namespace")
        return str(ns) if ns else None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        return self.id
