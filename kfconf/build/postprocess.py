"""Post-process: labels, provenance annotations, content hashes and a stable apply order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.core.resource import Resource
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack

MANAGED_BY = "app.kubernetes.io/managed-by"
PROJECT_LABEL = "kfconf.dev/project"
ENV_LABEL = "kfconf.dev/environment"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
SOURCE_ANNOTATION = "kfconf.dev/source"
HASH_ANNOTATION = "kfconf.dev/content-hash"
STACK_ANNOTATION = "kfconf.dev/stack"

# Apply stages: namespaces and profiles, RBAC, config, runtimes, then workloads (DESIGN §8).
STAGES: dict[str, int] = {
    "Namespace": 0, "Profile": 0,
    "ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "ClusterRole": 1, "ClusterRoleBinding": 1,
    "ConfigMap": 2, "PodDefault": 2, "PersistentVolumeClaim": 2,
    "TrainingRuntime": 3, "ClusterTrainingRuntime": 3, "ServingRuntime": 3, "ClusterServingRuntime": 3,
    "Pipeline": 4,
}
WORKLOAD_STAGE = 5


def stage(kind: str) -> int:
    return STAGES.get(kind, WORKLOAD_STAGE)


def content_hash(body: dict[str, Any]) -> str:
    """A hash of the object without its own hash annotation: stable across key order."""
    meta = body.get("metadata", {})
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k != HASH_ANNOTATION}
    canon = dict(body, metadata=dict(meta, annotations=ann))
    raw = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def project_relative(project: Project, file: str) -> str:
    prefix = project.spec_file[: -len("ml-project.yaml")] if project.spec_file.endswith("ml-project.yaml") else ""
    return file[len(prefix):] if prefix and file.startswith(prefix) else file


def sort_key(r: Resource) -> tuple[int, str, str, str]:
    return (stage(r.kind), r.kind, r.namespace or "", r.name)


def postprocess(project: Project, stack: Stack, resources: list[Resource]) -> list[Resource]:
    seen: dict[str, Resource] = {}
    diags: list[Diagnostic] = []
    for r in resources:
        if r.id in seen:
            diags.append(Diagnostic("KF205", f"expected one resource named {r.id}, got two "
                                    f"(from {seen[r.id].component}/{seen[r.id].entry} and {r.component}/{r.entry})",
                                    r.origin))
            continue
        seen[r.id] = r
        meta = r.body.setdefault("metadata", {})
        labels = meta.setdefault("labels", {})
        labels[MANAGED_BY] = "kfconf"
        labels[PART_OF] = project.name
        labels[PROJECT_LABEL] = project.name
        labels[COMPONENT_LABEL] = r.component
        if project.env:
            labels[ENV_LABEL] = project.env
        ann = meta.setdefault("annotations", {})
        if r.origin is not None:
            ann[SOURCE_ANNOTATION] = f"{project_relative(project, r.origin.file)}:{r.origin.line}"
        ann[STACK_ANNOTATION] = stack.name
        ann[HASH_ANNOTATION] = content_hash(r.body)
    if diags:
        raise FindingsError(diags)
    return sorted(seen.values(), key=sort_key)
