"""The resource manager: one reconcile = staged server-side apply, drift check, prune, inventory.

Order of a reconcile, and why:

1. Check the desired objects without the cluster: identities, one project, tenant lockdown (KF603).
2. Read the inventory; refuse to prune everything because the source came back empty (KF609).
3. Discover every kind; a kind the cluster does not serve stops the reconcile before anything is
   applied (KF604), naming the kind and the stack the manifests were built for.
4. Read the live objects: one list call per kind and namespace (a GET each when there are few).
   A tenant's workload must not run as a ServiceAccount the source defines but someone else owns (KF603).
5. Record the intent: the inventory becomes old ∪ new *before* applying, so a syncer killed half-way
   still knows every object it may have created and prunes it later if git drops it.
6. Apply stage by stage (CRDs, namespaces and profiles, RBAC, config, runtimes, workloads), waiting
   for namespaces and Established CRDs a later stage needs. Per object:
   - absent → apply;  content hash changed (git changed) → apply;
   - hash equal and every desired value present in the live object → unchanged, no request at all;
   - otherwise a server-side dry-run (force) tells, on the fields our manager owns, whether the object
     drifted → correct (apply) / warn (report only) / off (never checked).
   Applies never force: a field another manager owns is a conflict (KF605), reported, not clobbered —
   except the imperative managers (kubectl edit/patch …, `--override-managers`), whose edits are drift.
7. Prune what left git: only objects in our inventory *and* labelled as ours, not opted out with
   `kfconf.dev/prune: disabled`, deleted one by one (Background propagation, uid precondition).
8. Write the inventory and the per-resource status.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from kfconf.build.postprocess import content_hash
from kfconf.core.errors import Diagnostic, FindingsError, UsageError
from kfconf.core.source import Loc
from kfconf.sync import inventory as inv
from kfconf.sync.changeset import Action, ChangeSet, Entry
from kfconf.sync.fields import contains, differences, owned_fields, union
from kfconf.sync.health import HealthRegistry
from kfconf.sync.kube import Kube, KubeError, MissingKind
from kfconf.sync.objects import (
    ENV_LABEL,
    HASH_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    PROJECT_LABEL,
    PRUNE_ANNOTATION,
    PRUNE_DISABLED,
    STACK_ANNOTATION,
    ObjRef,
    annotation,
    apply_stage,
    label,
    ref_of,
)
from kfconf.sync.source import Manifest
from kfconf.sync.tenant import TenantPolicy

DriftMode = Literal["correct", "warn", "off"]

# Field managers of imperative edits (Flux's --override-manager idea): their changes are drift, taken back.
DEFAULT_OVERRIDE_MANAGERS = frozenset({
    "kubectl", "kubectl-edit", "kubectl-patch", "kubectl-replace", "kubectl-client-side-apply", "kubectl-set",
    "kubectl-label", "kubectl-annotate", "kubectl-scale", "before-first-apply",
})
_CONFLICT_MANAGER = re.compile(r'conflict with "([^"]+)"')
T = TypeVar("T")


@dataclass
class SyncOptions:
    project: str | None = None
    env: str | None = None
    namespace: str | None = None
    """Where the inventory lives; default: the tenant namespace, else the one namespace the objects use."""
    drift: DriftMode = "correct"
    force_conflicts: bool = False
    override_managers: frozenset[str] = DEFAULT_OVERRIDE_MANAGERS
    prune: bool = True
    allow_empty: bool = False
    adopt: bool = False
    """Take over objects that exist but are not ours (not labelled, not in the inventory)."""
    dry_run: bool = False
    concurrency: int = 8
    wait_timeout: float = 60.0
    wait: bool = False
    """Wait until every object is healthy (or the timeout); unhealthy objects then count as problems."""
    tenant: TenantPolicy | None = None
    events: bool = True


class Conflict(Exception):
    def __init__(self, managers: set[str], fields: list[str], message: str):
        super().__init__(message)
        self.managers = managers
        self.fields = fields


@dataclass
class _Item:
    body: dict[str, Any]
    ref: ObjRef
    loc: Loc | None
    hash: str
    live: dict[str, Any] | None = None


@dataclass
class Context:
    """What one reconcile needs to know besides the objects."""

    project: str
    env: str | None
    namespace: str
    old: inv.Inventory
    inventory_name: str
    old_keys: set[tuple[str, str, str, str]] = field(default_factory=set)


@dataclass
class ResourceManager:
    kube: Kube
    health: HealthRegistry
    options: SyncOptions = field(default_factory=SyncOptions)
    _no_drift: set[tuple[str, str, str]] = field(default_factory=set, repr=False)
    """(uid, resourceVersion, content hash) known to be in sync in the last round (applied by us, or checked):
    such an object cannot have drifted, so the next round skips it without even comparing values."""
    _in_sync_now: set[tuple[str, str, str]] = field(default_factory=set, repr=False)
    _hashes: dict[int, tuple[dict[str, Any], str]] = field(default_factory=dict, repr=False)
    _hashes_now: dict[int, tuple[dict[str, Any], str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _events: Any = field(default=None, repr=False)

    # -- the reconcile ------------------------------------------------------------------------------------
    def reconcile(self, manifests: Sequence[Manifest], revision: str = "") -> ChangeSet:
        t0 = time.monotonic()
        cs = ChangeSet(revision=revision, started=time.time(), dry_run=self.options.dry_run)
        self._in_sync_now = set()
        items = self._items(manifests)
        ctx = self._context(items) if items else self._empty_context()
        if self.options.tenant is not None:
            diags = self.options.tenant.check((it.body for it in items), {id(it.body): it.loc for it in items
                                                                           if it.loc})
            if diags:
                raise FindingsError(diags)
        old, last_status, cm = inv.load(self.kube, ctx.inventory_name, ctx.namespace)
        ctx.old, ctx.old_keys = old, old.keys()
        if not items and len(old) and not self.options.allow_empty:
            raise FindingsError([Diagnostic(
                "KF609", f"the source has no objects but the inventory {ctx.namespace}/{ctx.inventory_name} holds "
                         f"{len(old)}: refusing to prune them all (pass --allow-empty if this is intended)")])
        self._discover(items)
        self._read_live(items)
        if self.options.tenant is not None:
            self._refuse_foreign_accounts(items, ctx)
        new = inv.Inventory.of((it.ref, it.hash) for it in items)
        intent_saved = self._save_intent(ctx, old, new, cm)
        known_ns: set[str] = set()
        for stage, group in _stages(items, lambda it: it.ref.kind):
            if not intent_saved and stage > 0:
                intent_saved = self._save_intent(ctx, old, new, cm)
            ready = self._ensure_namespaces(group, items, known_ns, cs)
            # decide without I/O first: in a quiet round nearly everything is settled here, and only
            # the objects that need a request go to the thread pool
            planned = [(it, *self._plan(it, ctx)) for it in ready]
            work = [(it, plan) for it, plan, done in planned if done is None]
            applied = iter(self._map(lambda job: self._apply_item(job[0], job[1], ctx), work))
            for _it, _plan, done in planned:
                cs.add(done if done is not None else next(applied))
            self._after_stage(group, cs)
        kept = self._prune(ctx, old, new, cs) if self.options.prune else {r.entry: old.entries[r.entry]
                                                                           for r in inv.stale(old, new)}
        if self.options.wait and not self.options.dry_run:
            self._wait_healthy(items, cs)
        cs.duration_s = time.monotonic() - t0
        if not self.options.dry_run:
            final = inv.Inventory({**new.entries, **kept})
            try:
                saved = self._save(ctx, final, cs, old if cm is not None else None, last_status, cm)
            except KubeError as e:
                if e.status != 404:
                    raise
                # its namespace never appeared: say so (the objects in it have failed already)
                saved = {}
                cs.add(Entry(inv.inventory_ref(ctx.inventory_name, ctx.namespace), Action.FAILED,
                             f"cannot record the inventory: namespace {ctx.namespace} does not exist", "KF602"))
            if self.options.events and saved:
                self._recorder().changeset(cs, inv.inventory_ref(ctx.inventory_name, ctx.namespace),
                                           (saved.get("metadata") or {}).get("uid"))
        self._no_drift = self._in_sync_now  # only this round's: the memory never outgrows the inventory
        cs.duration_s = time.monotonic() - t0
        return cs

    # -- 1. desired objects -------------------------------------------------------------------------------
    def _items(self, manifests: Sequence[Manifest]) -> list[_Item]:
        items: list[_Item] = []
        seen: dict[tuple[str, str, str, str], Loc | None] = {}
        diags: list[Diagnostic] = []
        for m in manifests:
            ref = ref_of(m.body)
            if ref.key in seen:
                diags.append(Diagnostic("KF602", f"{ref} appears twice (also at {seen[ref.key]})", m.loc))
                continue
            seen[ref.key] = m.loc
            body = _own_metadata(m.body)
            h = annotation(body, HASH_ANNOTATION) or self._hash_of(m.body)
            items.append(_Item(body, ref, m.loc, h))
        self._hashes, self._hashes_now = self._hashes_now, {}  # keep this round's documents only
        if diags:
            raise FindingsError(diags)
        return items

    def _context(self, items: list[_Item]) -> Context:
        o = self.options
        project = o.project or _one({label(it.body, PROJECT_LABEL) for it in items} - {None}, "project", "--project")
        env = o.env or _one({label(it.body, ENV_LABEL) for it in items} - {None}, "environment", "--env", True)
        if project is None:
            raise UsageError("cannot tell the project: the objects carry no kfconf.dev/project label; pass --project")
        diags = []
        for it in items:
            theirs = label(it.body, PROJECT_LABEL)
            if theirs is not None and theirs != project:
                diags.append(Diagnostic("KF602", f"{it.ref} belongs to project {theirs}, expected {project}", it.loc))
            meta = it.body.setdefault("metadata", {})
            labels = meta.setdefault("labels", {}) or {}
            meta["labels"] = labels
            labels.setdefault(MANAGED_BY, MANAGED_BY_VALUE)
            labels.setdefault(PROJECT_LABEL, project)
            if env:
                labels.setdefault(ENV_LABEL, env)
            anns = meta.setdefault("annotations", {}) or {}
            meta["annotations"] = anns
            anns.setdefault(HASH_ANNOTATION, it.hash)
        if diags:
            raise FindingsError(diags)
        namespace = o.namespace or (o.tenant.namespace if o.tenant else None)
        if namespace is None:
            namespaces = {it.ref.namespace for it in items if it.ref.namespace}
            namespace = _one(namespaces, "namespace for the inventory", "--namespace")
        if namespace is None:
            raise UsageError("no namespaced object to tell where the inventory lives; pass --namespace")
        return Context(project, env, namespace, inv.Inventory(), inv.inventory_name(project, env))

    def _empty_context(self) -> Context:
        """An empty source names no project: find the one inventory it would prune, or refuse."""
        o = self.options
        namespace = o.namespace or (o.tenant.namespace if o.tenant else None)
        project, env = o.project, o.env
        if namespace is not None and project is None:
            selector = f"{inv.INVENTORY_LABEL}=true"
            found = [c for c in self.kube.list("v1", "ConfigMap", namespace, label_selector=selector)
                     if env is None or label(c, ENV_LABEL) == env]
            if len(found) == 1:
                project = label(found[0], PROJECT_LABEL)
                env = label(found[0], ENV_LABEL) if env is None else env
                env = None if env == inv.NO_ENV else env
        if namespace is None or project is None:
            raise FindingsError([Diagnostic(
                "KF609", "the source has no objects: nothing applied, nothing pruned (to prune everything a project "
                         "applied, pass --allow-empty with --namespace and --project)")])
        return Context(project, env, namespace, inv.Inventory(), inv.inventory_name(project, env))

    # -- 3. discovery -------------------------------------------------------------------------------------
    def _discover(self, items: list[_Item]) -> None:
        from_source = {(_crd_group(it.body), _crd_kind(it.body)) for it in items
                       if it.ref.kind == "CustomResourceDefinition"}
        missing: dict[tuple[str, str], list[_Item]] = defaultdict(list)
        for it in items:
            if (it.ref.group, it.ref.kind) in from_source:
                continue
            try:
                self.kube.resource(it.ref.api_version, it.ref.kind)
            except MissingKind:
                missing[(it.ref.api_version, it.ref.kind)].append(it)
        if missing:
            raise FindingsError([_missing_kind(api_version, kind, its) for (api_version, kind), its in missing.items()])

    # -- 4. live state ------------------------------------------------------------------------------------
    def _read_live(self, items: list[_Item]) -> None:
        groups: dict[tuple[str, str, str], list[_Item]] = defaultdict(list)
        for it in items:
            if self.kube.served(it.ref.api_version, it.ref.kind):
                groups[(it.ref.api_version, it.ref.kind, it.ref.namespace)].append(it)

        def read(key: tuple[str, str, str]) -> None:
            api_version, kind, namespace = key
            members = groups[key]
            try:
                if len(members) <= 3:
                    for it in members:
                        it.live = self.kube.get(it.ref)
                    return
                live = {(o["metadata"]["name"]): o for o in self.kube.list(api_version, kind, namespace or None)}
            except KubeError as e:
                # 404: the namespace itself comes later; 403: not ours to read — the apply will say so per object
                if (e.status == 404 and namespace) or e.status == 403:
                    return
                raise
            for it in members:
                it.live = live.get(it.ref.name)

        for _ in self._map(read, list(groups)):
            pass

    def _refuse_foreign_accounts(self, items: list[_Item], ctx: Context) -> None:
        """A ServiceAccount the source defines but the cluster holds as someone else's (the apply refuses it, or
        --adopt would only relabel it) keeps that owner's rights: no workload of the tenant may run as it."""
        assert self.options.tenant is not None
        foreign = frozenset(it.ref.name for it in items if it.ref.kind == "ServiceAccount" and it.ref.group == ""
                            and it.live is not None and not self._ours(it.live, it.ref, ctx))
        if foreign:
            diags = self.options.tenant.check((it.body for it in items), {id(it.body): it.loc for it in items
                                                                           if it.loc}, foreign)
            if diags:
                raise FindingsError(diags)

    # -- 5. inventory -------------------------------------------------------------------------------------
    def _save_intent(self, ctx: Context, old: inv.Inventory, new: inv.Inventory, cm: dict[str, Any] | None) -> bool:
        if self.options.dry_run:
            return True
        intent = old.union(new)
        if cm is not None and intent.entries == old.entries:
            return True
        data = dict((cm or {}).get("data") or {})
        body = inv.to_configmap(ctx.inventory_name, ctx.namespace, ctx.project, ctx.env, intent,
                                inv.from_configmap(cm)[1], data)
        try:
            inv.save(self.kube, body)
        except KubeError as e:
            if e.status == 404:  # its namespace comes with the first stage
                return False
            raise
        return True

    def _save(self, ctx: Context, final: inv.Inventory, cs: ChangeSet, old: inv.Inventory | None,
              last: dict[str, Any] | None, cm: dict[str, Any] | None) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        result = "success" if cs.ok else "failure"
        record = cs.to_json()
        if cm is not None and old is not None and last is not None and final.entries == old.entries and \
                last.get("revision") == cs.revision and last.get("result") == result and \
                last.get("resources") == record["resources"]:
            # a quiet round: the record is the same but for the time — touch the time only
            res = self.kube.resource("v1", "ConfigMap")
            touched: dict[str, Any] = self.kube.request(
                "PATCH", res.path(ctx.inventory_name, ctx.namespace), body={"data": {"lastReconcileTime": now}},
                content_type="application/merge-patch+json", what="touch the inventory")
            return touched
        status = {"revision": cs.revision, "time": now, "result": result, "summary": cs.summary(), **record}
        data = {"revision": cs.revision, "lastReconcileTime": now, "result": result,
                "summary": cs.summary(), "resources": str(len(final))}
        body = inv.to_configmap(ctx.inventory_name, ctx.namespace, ctx.project, ctx.env, final, status, data)
        return inv.save(self.kube, body)

    # -- 6. apply -----------------------------------------------------------------------------------------
    def _ensure_namespaces(self, group: list[_Item], items: list[_Item], known: set[str],
                           cs: ChangeSet) -> list[_Item]:
        """The items of `group` whose namespace exists (waiting for one a Profile is about to create)."""
        made_here = {it.ref.name for it in items if it.ref.kind in ("Namespace", "Profile")}
        ok: list[_Item] = []
        missing: dict[str, list[_Item]] = defaultdict(list)
        for it in group:
            ns = it.ref.namespace
            if not ns or ns in known:
                ok.append(it)
            else:
                missing[ns].append(it)
        for ns, members in missing.items():
            if self._namespace_exists(ns, wait=ns in made_here and not self.options.dry_run):
                known.add(ns)
                ok.extend(members)
            elif self.options.dry_run and ns in made_here:
                for it in members:
                    cs.add(Entry(it.ref, Action.WOULD_APPLY, f"after namespace {ns} is created", loc=it.loc))
            else:
                why = (f"namespace {ns} did not appear within {self.options.wait_timeout:.0f} s" if ns in made_here
                       else f"namespace {ns} does not exist and nothing in the source creates it")
                for it in members:
                    cs.add(Entry(it.ref, Action.FAILED, why, "KF602", loc=it.loc))
        return ok

    def _namespace_exists(self, ns: str, wait: bool) -> bool:
        deadline = time.monotonic() + (self.options.wait_timeout if wait else 0)
        while True:
            try:
                live = self.kube.get(ObjRef("", "Namespace", "", ns, "v1"))
            except KubeError as e:
                if e.status == 403:  # a tenant may not read namespaces: let the apply tell
                    return True
                raise
            if live is not None and (live.get("status") or {}).get("phase") != "Terminating":
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    def _plan(self, it: _Item, ctx: Context) -> tuple[str, Entry | None]:
        """create | update | check (a dry-run decides) — or the finished entry when no request is needed."""
        live = it.live
        if live is None:
            return "create", None
        if not self._ours(live, it.ref, ctx) and not self.options.adopt:
            e = Entry(it.ref, Action.REFUSED, loc=it.loc, code="KF607", uid=(live.get("metadata") or {}).get("uid"))
            e.message = (f"exists and is not managed by kfconf for project {ctx.project} (no "
                         f"{MANAGED_BY}={MANAGED_BY_VALUE} label, not in the inventory); "
                         "delete it, or pass --adopt to take it over")
            return "refuse", e
        if annotation(live, HASH_ANNOTATION) != it.hash:
            return "update", None
        # cheapest first: unchanged since we applied or checked it (same uid and resourceVersion), then
        # every value git sets already there; only what both miss needs a dry-run
        if self.options.drift == "off" or self._known_in_sync(live, it.hash) or contains(live, it.body):
            self._remember_in_sync(live, it.hash)
            return "unchanged", Entry(it.ref, Action.UNCHANGED, loc=it.loc, health=self.health.status(live),
                                      uid=live["metadata"].get("uid"))
        return "check", None

    def _apply_item(self, it: _Item, plan: str, ctx: Context) -> Entry:
        e = Entry(it.ref, Action.UNCHANGED, loc=it.loc)
        live = it.live
        try:
            if self.options.dry_run:
                return self._dry_run_item(it, plan, e)
            if plan == "check":
                fields = self._drift(it)
                if not fields:
                    self._remember_in_sync(live, it.hash)
                    e.health, e.uid = self.health.status(live), live["metadata"].get("uid") if live else None
                    return e
                e.fields = fields
                if self.options.drift == "warn":
                    e.action, e.code = Action.DRIFTED, "KF608"
                    e.message = "drifted from git: " + ", ".join(fields[:10]) + " (--drift warn: left as is)"
                    e.health, e.uid = self.health.status(live), live["metadata"].get("uid") if live else None
                    return e
                obj, took = self._apply(it.body)
                e.action = Action.CORRECTED
                e.message = "drift corrected: " + ", ".join(fields[:10]) + (f" ({took})" if took else "")
            else:
                obj, took = self._apply(it.body)
                e.action = Action.CREATED if plan == "create" else Action.CONFIGURED
                e.message = took
            e.health, e.uid = self.health.status(obj), (obj.get("metadata") or {}).get("uid")
            self._remember_in_sync(obj, it.hash)
        except Conflict as c:
            e.action, e.code, e.fields = Action.CONFLICT, "KF605", c.fields
            e.message = (f"field manager conflict with {', '.join(sorted(c.managers)) or 'another manager'} on "
                         f"{', '.join(c.fields[:10]) or 'some fields'}: not overwritten "
                         "(settle it in git or with the other owner, or pass --force-conflicts)")
        except MissingKind as m:
            e.action, e.code, e.message = Action.FAILED, "KF604", str(m)
        except KubeError as err:
            if err.status == 0:  # the API server is gone: abort the reconcile (exit 2), retry next time
                raise
            e.action, e.code = Action.FAILED, ("KF603" if err.status == 403 else "KF602")
            e.message = err.api_message or str(err)
        return e

    def _ours(self, live: dict[str, Any], ref: ObjRef, ctx: Context) -> bool:
        return ref.key in ctx.old_keys or _owned(live, ctx)

    def _apply(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Apply without force; a conflict only with imperative managers is drift and is taken back."""
        try:
            return self.kube.apply(body, force=self.options.force_conflicts), ""
        except KubeError as e:
            if not e.is_conflict:
                raise
            managers, fields = parse_conflict(e)
            if managers and managers <= self.options.override_managers:
                obj = self.kube.apply(body, force=True)
                return obj, f"took {', '.join(fields[:10])} back from {', '.join(sorted(managers))}"
            raise Conflict(managers, fields, e.api_message) from None

    def _drift(self, it: _Item) -> list[str]:
        """Fields our manager owns (or would own) whose live value differs from what git says."""
        merged = self.kube.apply(it.body, dry_run=True, force=True)
        live = it.live or {}
        fm = self.kube.field_manager
        fields = union(owned_fields(merged, fm), owned_fields(live, fm))
        fields.get("f:metadata", {}).pop("f:managedFields", None)
        return list(differences(merged, live, fields))

    def _dry_run_item(self, it: _Item, plan: str, e: Entry) -> Entry:
        if plan == "create":
            self.kube.apply(it.body, dry_run=True, force=True)
            e.action, e.message = Action.WOULD_APPLY, "would create"
            return e
        fields = self._drift(it)
        if fields:
            e.action, e.fields = Action.WOULD_APPLY, fields
            e.message = ("would update: " if plan == "update" else "drifted: ") + ", ".join(fields[:10])
        return e

    def _known_in_sync(self, live: dict[str, Any], h: str) -> bool:
        meta = live.get("metadata") or {}
        key = (str(meta.get("uid")), str(meta.get("resourceVersion")), h)
        if key in self._no_drift:
            self._in_sync_now.add(key)
            return True
        return False

    def _remember_in_sync(self, live: dict[str, Any] | None, h: str) -> None:
        if live is not None:
            meta = live.get("metadata") or {}
            with self._lock:
                self._in_sync_now.add((str(meta.get("uid")), str(meta.get("resourceVersion")), h))

    def _after_stage(self, group: list[_Item], cs: ChangeSet) -> None:
        """CRDs applied in this stage must be Established before their kinds are used."""
        crds = [it for it in group if it.ref.kind == "CustomResourceDefinition"]
        if not crds or self.options.dry_run:
            return
        deadline = time.monotonic() + self.options.wait_timeout
        pending = {it.ref.name for it in crds}
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                obj = self.kube.get(ObjRef("apiextensions.k8s.io", "CustomResourceDefinition", "", name, "v1"))
                if obj and self.health.status(obj).state == "Healthy":
                    pending.discard(name)
            if pending:
                time.sleep(0.2)
        for it in crds:
            for v in (it.body.get("spec") or {}).get("versions") or []:
                self.kube.forget(f"{_crd_group(it.body)}/{v.get('name')}")
        for name in sorted(pending):
            cs.add(Entry(ObjRef("apiextensions.k8s.io", "CustomResourceDefinition", "", name, "v1"), Action.FAILED,
                         f"not Established within {self.options.wait_timeout:.0f} s", "KF604"))

    # -- 7. prune -----------------------------------------------------------------------------------------
    def _prune(self, ctx: Context, old: inv.Inventory, new: inv.Inventory, cs: ChangeSet) -> dict[str, str]:
        """Delete what left git; returns the stale entries to keep in the inventory (to retry later)."""
        kept: dict[str, str] = {}
        stale = inv.stale(old, new)
        for _stage, group in _stages(stale, lambda r: r.kind, reverse=True):
            for ref, entry, keep in self._map(lambda r: (r, *self._prune_one(r, ctx)), group):
                if entry is not None:
                    cs.add(entry)
                if keep:
                    kept[ref.entry] = old.entries.get(ref.entry, "")
        return kept

    def _prune_one(self, ref: ObjRef, ctx: Context) -> tuple[Entry | None, bool]:
        tenant = self.options.tenant
        if tenant is not None and (ref.namespace != tenant.namespace or not tenant.allows_kind(ref.group, ref.kind)):
            return Entry(ref, Action.PRUNE_SKIPPED, f"outside tenant {tenant.namespace}: left alone", "KF603"), False
        try:
            live = self.kube.get(ref)
        except MissingKind:
            return Entry(ref, Action.PRUNE_SKIPPED, f"{ref.kind} is no longer served: left alone"), False
        except KubeError as e:
            return Entry(ref, Action.FAILED, f"cannot read it to prune it: {e.api_message or e}", "KF602"), True
        if live is None:
            return None, False
        uid = (live.get("metadata") or {}).get("uid")
        if annotation(live, PRUNE_ANNOTATION) == PRUNE_DISABLED:
            return Entry(ref, Action.PRUNE_SKIPPED, f"left git, kept: {PRUNE_ANNOTATION}: {PRUNE_DISABLED}",
                         uid=uid), False
        if not _owned(live, ctx):
            return Entry(ref, Action.PRUNE_SKIPPED, f"left git but is no longer labelled {MANAGED_BY}="
                         f"{MANAGED_BY_VALUE} for project {ctx.project}: not ours, left alone", "KF607",
                         uid=uid), False
        if self.options.dry_run:
            return Entry(ref, Action.WOULD_DELETE, "left git", uid=uid), True
        try:
            self.kube.delete(ref, uid=uid)
        except KubeError as e:
            if e.status == 409:  # the uid precondition: someone replaced it meanwhile
                return Entry(ref, Action.PRUNE_SKIPPED, "replaced while pruning: left alone", uid=uid), False
            if e.status == 0:
                raise
            return Entry(ref, Action.FAILED, f"prune failed: {e.api_message or e}", "KF602", uid=uid), True
        return Entry(ref, Action.DELETED, "left git", uid=uid), False

    # -- wait ---------------------------------------------------------------------------------------------
    def _wait_healthy(self, items: list[_Item], cs: ChangeSet) -> None:
        by_ref = {it.ref.key: it for it in items}
        deadline = time.monotonic() + self.options.wait_timeout
        waiting = [e for e in cs.entries if e.health is not None and e.health.state == "Progressing"]
        while waiting and time.monotonic() < deadline:
            time.sleep(1.0)
            for e in waiting:
                it = by_ref.get(e.ref.key)
                if it is not None:
                    e.health = self.health.status(self.kube.get(it.ref))
            waiting = [e for e in waiting if e.health is not None and e.health.state == "Progressing"]
        for e in cs.entries:
            if e.health is not None and e.health.state in ("Progressing", "Degraded", "Unknown") \
                    and e.action not in (Action.FAILED, Action.CONFLICT, Action.REFUSED):
                e.action, e.code = Action.FAILED, "KF602"
                e.message = f"{e.health.state}: {e.health.message}" + (
                    f" (after waiting {self.options.wait_timeout:.0f} s)" if e.health.state == "Progressing" else "")

    # -- helpers ------------------------------------------------------------------------------------------
    def _hash_of(self, body: dict[str, Any]) -> str:
        """Content hash of a document without one; a commit's documents are kept between rounds, so once."""
        hit = self._hashes.get(id(body))
        h = hit[1] if hit is not None and hit[0] is body else content_hash(body)
        self._hashes_now[id(body)] = (body, h)
        return h

    def _recorder(self) -> Any:
        if self._events is None:
            from kfconf.sync.events import EventRecorder

            self._events = EventRecorder(self.kube)
        return self._events

    def _map(self, fn: Callable[[Any], T], things: list[Any]) -> Iterable[T]:
        if len(things) <= 1 or self.options.concurrency <= 1:
            return [fn(t) for t in things]
        with ThreadPoolExecutor(max_workers=min(self.options.concurrency, len(things))) as pool:
            return list(pool.map(fn, things))


def _owned(live: dict[str, Any], ctx: Context) -> bool:
    labels = (live.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGED_BY_VALUE or labels.get(PROJECT_LABEL) != ctx.project:
        return False
    env = labels.get(ENV_LABEL)
    return env is None or ctx.env is None or env == ctx.env


def parse_conflict(e: KubeError) -> tuple[set[str], list[str]]:
    managers: set[str] = set()
    fields: list[str] = []
    for c in e.causes:
        if c.get("reason") not in (None, "FieldManagerConflict"):
            continue
        m = _CONFLICT_MANAGER.search(str(c.get("message") or ""))
        if m:
            managers.add(m.group(1))
        if c.get("field"):
            fields.append(str(c["field"]))
    if not managers:
        managers.update(_CONFLICT_MANAGER.findall(e.api_message))
    return managers, sorted(set(fields))


def _stages(things: Iterable[T], kind_of: Callable[[T], str], reverse: bool = False) -> list[tuple[int, list[T]]]:
    groups: dict[int, list[T]] = defaultdict(list)
    for t in things:
        groups[apply_stage(kind_of(t))].append(t)
    return sorted(groups.items(), reverse=reverse)


def _one(values: set[Any], what: str, flag: str, optional: bool = False) -> Any:
    if len(values) == 1:
        return next(iter(values))
    if not values and optional:
        return None
    if not values:
        return None
    raise UsageError(f"the objects name more than one {what} ({', '.join(sorted(values))}); pass {flag}")


def _crd_group(body: dict[str, Any]) -> str:
    return str((body.get("spec") or {}).get("group") or "")


def _crd_kind(body: dict[str, Any]) -> str:
    return str(((body.get("spec") or {}).get("names") or {}).get("kind") or "")


def _missing_kind(api_version: str, kind: str, items: list[_Item]) -> Diagnostic:
    stacks = sorted({s for it in items if (s := annotation(it.body, STACK_ANNOTATION))})
    stack = f"the stack {', '.join(stacks)}" if stacks else "these manifests"
    return Diagnostic("KF604", f"{kind} ({api_version}) is not served by the cluster, but {stack} needs it for "
                               f"{len(items)} object{'s' * (len(items) != 1)} (first: {items[0].ref}); "
                               "nothing applied", items[0].loc,
                      hint=f"install the CRD that serves {kind} in {api_version} (the platform release the stack "
                           "targets), or build for the stack the cluster runs")


def _own_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """A copy whose metadata, labels and annotations may be edited; the rest is shared, never mutated
    (the source keeps a commit's parsed documents between rounds)."""
    meta = dict(body.get("metadata") or {})
    for key in ("labels", "annotations"):
        if isinstance(meta.get(key), dict):
            meta[key] = dict(meta[key])
    return {**body, "metadata": meta}
