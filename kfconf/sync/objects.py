"""Object identity for the syncer, and the labels and annotations that mark what kfconf owns.

`ObjRef` prints as `Kind/namespace/name` (the identity used everywhere in kfconf) and serialises to a
compact inventory entry `group_kind_namespace_name_version`. `_` cannot occur in any of the parts
(DNS names, API groups, CamelCase kinds, version strings), so the entry splits back unambiguously.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfconf.build.postprocess import ENV_LABEL, HASH_ANNOTATION, MANAGED_BY, PROJECT_LABEL, STACK_ANNOTATION
from kfconf.build.postprocess import stage as build_stage

FIELD_MANAGER = "kfconf"
MANAGED_BY_VALUE = "kfconf"
PRUNE_ANNOTATION = "kfconf.dev/prune"
PRUNE_DISABLED = "disabled"

__all__ = [
    "ENV_LABEL", "FIELD_MANAGER", "HASH_ANNOTATION", "MANAGED_BY", "PROJECT_LABEL", "PRUNE_ANNOTATION",
    "STACK_ANNOTATION", "ObjRef", "apply_stage", "owned_by", "ref_of",
]


@dataclass(frozen=True, slots=True, order=True)
class ObjRef:
    group: str
    kind: str
    namespace: str
    name: str
    version: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    @property
    def entry(self) -> str:
        return f"{self.group}_{self.kind}_{self.namespace}_{self.name}_{self.version}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity without the version: the same object served at another version is the same object."""
        return (self.group, self.kind, self.namespace, self.name)

    @classmethod
    def parse(cls, entry: str) -> ObjRef:
        parts = entry.split("_")
        if len(parts) != 5 or not parts[1] or not parts[3] or not parts[4]:
            raise ValueError(f"expected group_kind_namespace_name_version, got {entry!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return self.id


def ref_of(body: Mapping[str, Any]) -> ObjRef:
    api_version = str(body.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    meta = body.get("metadata") or {}
    return ObjRef(group, str(body.get("kind") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                  version)


def apply_stage(kind: str) -> int:
    """The build's apply stages, with CustomResourceDefinitions before everything (they gate custom kinds)."""
    return -1 if kind == "CustomResourceDefinition" else build_stage(kind)


def owned_by(live: Mapping[str, Any], project: str | None) -> bool:
    """Ours = labelled managed-by kfconf and, when we know our project, labelled with that project."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGED_BY_VALUE:
        return False
    return project is None or labels.get(PROJECT_LABEL) == project


def annotation(obj: Mapping[str, Any], key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    return None if value is None else str(value)


def label(obj: Mapping[str, Any], key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(key)
    return None if value is None else str(value)
