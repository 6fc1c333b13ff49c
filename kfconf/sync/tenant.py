"""Tenant lockdown: a project's syncer may touch only its own namespace and an allow-list of kinds.

Checked on the desired objects before any API call, so a refused object is never even dry-run
(KF603); RBAC (see `kfconf syncer manifests`) refuses the same things a second time on the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kfconf.core.errors import Diagnostic, UsageError
from kfconf.core.resource import CLUSTER_SCOPED
from kfconf.core.source import Loc
from kfconf.sync.objects import ref_of


@dataclass(frozen=True, slots=True)
class KindInfo:
    group: str
    kind: str
    plural: str


# Namespaced kinds a kfconf project generates (the default allow-list), with the REST plural RBAC needs.
# Role/RoleBinding are deliberately absent: a syncer that may write RBAC may grant itself more.
TENANT_KINDS: tuple[KindInfo, ...] = (
    KindInfo("", "ConfigMap", "configmaps"),
    KindInfo("", "ServiceAccount", "serviceaccounts"),
    KindInfo("", "PersistentVolumeClaim", "persistentvolumeclaims"),
    KindInfo("batch", "Job", "jobs"),
    KindInfo("batch", "CronJob", "cronjobs"),
    KindInfo("kubeflow.org", "PodDefault", "poddefaults"),
    KindInfo("kubeflow.org", "Notebook", "notebooks"),
    KindInfo("kubeflow.org", "Experiment", "experiments"),
    KindInfo("kubeflow.org", "PyTorchJob", "pytorchjobs"),
    KindInfo("trainer.kubeflow.org", "TrainJob", "trainjobs"),
    KindInfo("trainer.kubeflow.org", "TrainingRuntime", "trainingruntimes"),
    KindInfo("serving.kserve.io", "InferenceService", "inferenceservices"),
    KindInfo("serving.kserve.io", "ServingRuntime", "servingruntimes"),
    KindInfo("serving.kserve.io", "InferenceGraph", "inferencegraphs"),
    KindInfo("sparkoperator.k8s.io", "SparkApplication", "sparkapplications"),
    KindInfo("sparkoperator.k8s.io", "ScheduledSparkApplication", "scheduledsparkapplications"),
    KindInfo("pipelines.kubeflow.org", "Pipeline", "pipelines"),
    KindInfo("pipelines.kubeflow.org", "PipelineVersion", "pipelineversions"),
)
# Kinds a tenant may opt in to with --allow-kinds (known plural), but not granted by default.
OPT_IN_KINDS: tuple[KindInfo, ...] = (
    KindInfo("", "Secret", "secrets"),
    KindInfo("", "Service", "services"),
    KindInfo("apps", "Deployment", "deployments"),
    KindInfo("rbac.authorization.k8s.io", "Role", "roles"),
    KindInfo("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
)
KNOWN_KINDS: dict[str, KindInfo] = {k.kind: k for k in (*TENANT_KINDS, *OPT_IN_KINDS)}
DEFAULT_KINDS: tuple[str, ...] = tuple(k.kind for k in TENANT_KINDS)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """`--allow-kinds TrainJob,ConfigMap` → ("ConfigMap", "TrainJob"); empty → the default allow-list."""
    if not text:
        return DEFAULT_KINDS
    kinds = sorted({k.strip() for k in text.split(",") if k.strip()})
    for k in kinds:
        group, _, kind = k.rpartition("/")
        if not kind[:1].isupper() or not kind.isalnum() or (group and not group.replace(".", "").replace("-", "")
                                                           .isalnum()):
            raise UsageError(f"--allow-kinds: expected Kind names such as TrainJob, got {k!r}")
    return tuple(kinds)


def kind_info(kind: str) -> KindInfo:
    info = KNOWN_KINDS.get(kind)
    if info is None:
        raise UsageError(f"unknown kind {kind!r} for tenant RBAC; known: {', '.join(sorted(KNOWN_KINDS))}")
    return info


@dataclass(frozen=True)
class TenantPolicy:
    namespace: str
    kinds: frozenset[str]

    def allows_kind(self, group: str, kind: str) -> bool:
        return kind in self.kinds or f"{group}/{kind}" in self.kinds

    def check(self, objects: Iterable[Mapping[str, Any]], where: Mapping[int, Loc] | None = None) -> list[Diagnostic]:
        """KF603 for every object outside the tenant's namespace or kinds. `where`: id(obj) → its file:line."""
        out: list[Diagnostic] = []
        for obj in objects:
            ref = ref_of(obj)
            loc = (where or {}).get(id(obj))
            if not ref.namespace or ref.kind in CLUSTER_SCOPED:
                out.append(Diagnostic("KF603", f"{ref}: expected an object in namespace {self.namespace}, "
                                               f"got a cluster-scoped {ref.kind}", loc,
                                      hint="a tenant syncer never writes cluster-scoped objects; "
                                           "the platform's syncer applies them"))
            elif ref.namespace != self.namespace:
                out.append(Diagnostic("KF603", f"{ref}: expected namespace {self.namespace}, "
                                               f"got {ref.namespace}", loc))
            elif not self.allows_kind(ref.group, ref.kind):
                out.append(Diagnostic("KF603", f"{ref}: kind {ref.kind} is not allowed for tenant {self.namespace} "
                                               f"(allowed: {', '.join(sorted(self.kinds))})", loc,
                                      hint="add it with --allow-kinds (and to the syncer's Role)"))
        return out
