"""Tenant lockdown: a project's syncer may touch only its own namespace and an allow-list of kinds.

Checked on the desired objects before any API call, so a refused object is never even dry-run
(KF603); RBAC (see `kfconf syncer manifests`) refuses the same things a second time on the server.

Inside its namespace the lockdown also refuses what RBAC cannot see or grants by design: a workload that
runs as a ServiceAccount the project does not own (any pod of a namespace may name any of its
ServiceAccounts — a platform's privileged one, or the syncer's own), a token Secret for such an account,
a RoleBinding to a ClusterRole outside the bindable list (e.g. cluster-admin), and a Role with wildcards
or the verbs that grant more (escalate, bind, impersonate, minting tokens).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
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
# ClusterRoles a tenant's RoleBindings may reference: the Kubeflow roles kfconf binds contributors to
DEFAULT_BIND: tuple[str, ...] = ("kubeflow-edit", "kubeflow-view")
# ServiceAccounts a tenant's workloads may run as without defining them: the namespace's default and the two
# a Kubeflow Profile creates in it (the stacks' default for notebooks and pipelines)
DEFAULT_SERVICE_ACCOUNTS: tuple[str, ...] = ("default", "default-editor", "default-viewer")
RBAC_GROUP = "rbac.authorization.k8s.io"
_GRANTING_VERBS = frozenset({"escalate", "bind", "impersonate"})
_GRANTING_RESOURCES = frozenset({"serviceaccounts/token"})
TOKEN_SECRET = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"


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
    bind_clusterroles: frozenset[str] = frozenset(DEFAULT_BIND)
    service_accounts: frozenset[str] = field(default=frozenset(DEFAULT_SERVICE_ACCOUNTS))

    def allows_kind(self, group: str, kind: str) -> bool:
        """A bare name means the kind of that name kfconf knows (ConfigMap is core's, not some other group's
        ConfigMap, which may even be cluster-scoped); a group-qualified one, exactly that."""
        if f"{group}/{kind}" in self.kinds:
            return True
        known = KNOWN_KINDS.get(kind)
        return kind in self.kinds and (known is None or known.group == group)

    def check(self, objects: Iterable[Mapping[str, Any]], where: Mapping[int, Loc] | None = None,
              foreign_service_accounts: frozenset[str] = frozenset()) -> list[Diagnostic]:
        """KF603 for every object outside the tenant's namespace or kinds, or escalating inside it.
        `where`: id(obj) → its file:line. `foreign_service_accounts`: accounts the source defines but that
        exist in the cluster as someone else's (the apply will refuse them; a workload must not use them)."""
        objects = list(objects)
        out: list[Diagnostic] = []
        own_accounts = {ref.name for ref in map(ref_of, objects)
                        if ref.kind == "ServiceAccount" and ref.group == "" and ref.namespace == self.namespace}
        accounts = (self.service_accounts | own_accounts) - foreign_service_accounts
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
                out.append(Diagnostic("KF603", f"{ref}: kind {ref.kind} is not allowed for tenant {self.namespace}"
                                               f" in {ref.api_version} (allowed: {', '.join(sorted(self.kinds))})",
                                      loc, hint="add it with --allow-kinds (and to the syncer's Role)"))
            else:
                out.extend(Diagnostic("KF603", f"{ref}: {why}", loc, hint=hint)
                           for why, hint in self._escalations(obj, ref.group, ref.kind, accounts))
        return out

    def _escalations(self, obj: Mapping[str, Any], group: str, kind: str,
                     accounts: frozenset[str] | set[str]) -> Iterator[tuple[str, str]]:
        """What an allowed object in the tenant's own namespace would grant beyond it."""
        runs_as = "runs as ServiceAccount {}, which the project does not define"
        runs_hint = (f"a tenant's workloads run as its own ServiceAccounts or "
                     f"{', '.join(sorted(self.service_accounts))} (another account of the namespace may hold more "
                     "rights, the syncer's own among them)")
        for path, name in service_account_refs(obj.get("spec")):
            if name not in accounts:
                yield f"spec.{path} {runs_as.format(name)}", runs_hint
        if group == "" and kind == "Secret" and obj.get("type") == TOKEN_SECRET:
            name = str(((obj.get("metadata") or {}).get("annotations") or {}).get(SA_NAME_ANNOTATION, ""))
            if name not in accounts:
                yield f"a token Secret for ServiceAccount {name or '(none)'}, which the project does not define", \
                    runs_hint
        if group == RBAC_GROUP and kind == "RoleBinding":
            role = obj.get("roleRef") or {}
            if role.get("kind") != "Role" and str(role.get("name")) not in self.bind_clusterroles:
                yield (f"binds {role.get('kind')} {role.get('name')}: expected a Role of the namespace or one of "
                       f"the ClusterRoles {', '.join(sorted(self.bind_clusterroles))}",
                       "a RoleBinding to any other ClusterRole (cluster-admin, admin …) would grant what the "
                       "tenant does not hold")
        if group == RBAC_GROUP and kind == "Role":
            for i, rule in enumerate(obj.get("rules") or []):
                if not isinstance(rule, Mapping):
                    continue
                values = {k: [str(v) for v in rule.get(k) or []] for k in ("apiGroups", "resources", "verbs")}
                if any("*" in v for v in values.values()):
                    yield f"rules[{i}] uses a wildcard", "name the groups, resources and verbs a workload needs"
                granting = sorted(_GRANTING_VERBS & set(values["verbs"]))
                granting += sorted(_GRANTING_RESOURCES & set(values["resources"]))
                if granting:
                    yield f"rules[{i}] grants {', '.join(granting)}", \
                        "these let whoever holds the Role grant itself more than the Role says"


def service_account_refs(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, name) of every ServiceAccount a spec names: `serviceAccountName` in any pod spec (Job, Notebook,
    TrainingRuntime, InferenceService, PodDefault …) and `serviceAccount` (Spark's driver and executors)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            here = f"{path}.{k}" if path else str(k)
            if k in ("serviceAccountName", "serviceAccount") and isinstance(v, str):
                yield here, v
            else:
                yield from service_account_refs(v, here)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from service_account_refs(v, f"{path}[{i}]")
