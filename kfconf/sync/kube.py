"""A thin, typed REST layer over the `kubernetes` client's ApiClient: discovery (cached), get, list,
server-side apply, delete, create.

Why not the generated typed APIs or DynamicClient: the syncer handles arbitrary kinds as plain dicts,
and DynamicClient discovers every group of the cluster up front. Here a group/version is discovered
the first time one of its kinds is needed and remembered (refreshed once when a kind is unknown, so
a CRD installed meanwhile is found). Responses are decoded with `json.loads` directly: the syncer
lists thousands of objects and never needs the client's model classes.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kfconf.core.errors import ExternalError
from kfconf.sync.objects import FIELD_MANAGER, ObjRef

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@dataclass(frozen=True, slots=True)
class APIResource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()

    def collection(self, namespace: str | None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{quote(namespace)}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, name: str, namespace: str | None) -> str:
        return f"{self.collection(namespace)}/{quote(name)}"


class KubeError(ExternalError):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, what: str, status: int, reason: str, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(f"{what}: {message or reason} (HTTP {status})" if status else f"{what}: {message}")
        self.what = what
        self.status = status
        self.reason = reason
        self.api_message = message
        self.details: Mapping[str, Any] = details or {}

    @property
    def causes(self) -> list[Mapping[str, Any]]:
        return list((self.details.get("details") or {}).get("causes") or [])

    @property
    def is_conflict(self) -> bool:
        return self.status == 409 and self.reason == "Conflict"


class MissingKind(Exception):
    """The cluster does not serve a kind (its CRD is not installed)."""

    def __init__(self, api_version: str, kind: str):
        super().__init__(f"{kind} ({api_version}) is not served by the cluster")
        self.api_version = api_version
        self.kind = kind


@dataclass
class Kube:
    """One identity's view of one cluster."""

    api: ApiClient
    field_manager: str = FIELD_MANAGER
    impersonate: str | None = None
    """Impersonate this user (e.g. system:serviceaccount:NS:NAME): the caller must be allowed to."""
    timeout: float = 60.0
    _discovery: dict[str, dict[str, APIResource]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- raw requests -------------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, query: list[tuple[str, str]] | None = None,
                body: Any = None, content_type: str = "application/json", what: str = "") -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": content_type}
        if self.impersonate:
            headers["Impersonate-User"] = self.impersonate
        try:
            resp = self.api.call_api(path, method, query_params=query or [], header_params=headers, body=body,
                                     auth_settings=["BearerToken"], _preload_content=False,
                                     _return_http_data_only=True, _request_timeout=self.timeout)
        except ApiException as e:
            details: dict[str, Any] = {}
            with contextlib.suppress(ValueError, TypeError):
                details = json.loads(e.body or b"{}")
            raise KubeError(what or f"{method} {path}", int(e.status or 0), str(details.get("reason") or e.reason),
                            str(details.get("message") or ""), details) from None
        except (OSError, urllib3.exceptions.HTTPError) as e:  # refused, timed out, TLS, retries exhausted
            raise KubeError(what or f"{method} {path}", 0, "Unreachable",
                            f"cannot reach the API server {self.api.configuration.host}: {type(e).__name__}") from e
        data = resp.data
        return json.loads(data) if data else None

    # -- discovery ----------------------------------------------------------------------------------------
    def resource(self, api_version: str, kind: str) -> APIResource:
        """The REST resource serving `kind` in `api_version`; raises MissingKind if none does."""
        for refresh in (False, True):
            served = self._group_version(api_version, refresh)
            if kind in served:
                return served[kind]
        raise MissingKind(api_version, kind)

    def served(self, api_version: str, kind: str) -> bool:
        try:
            self.resource(api_version, kind)
        except MissingKind:
            return False
        return True

    def forget(self, api_version: str) -> None:
        with self._lock:
            self._discovery.pop(api_version, None)

    def _group_version(self, api_version: str, refresh: bool) -> dict[str, APIResource]:
        with self._lock:
            if not refresh and api_version in self._discovery:
                return self._discovery[api_version]
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            doc = self.request("GET", path, what=f"discovery of {api_version}")
        except KubeError as e:
            if e.status != 404:
                raise
            doc = {}
        served = {
            r["kind"]: APIResource(api_version, r["kind"], r["name"], bool(r.get("namespaced")),
                                   frozenset(r.get("verbs") or ()))
            for r in doc.get("resources") or [] if "/" not in r.get("name", "")
        }
        with self._lock:
            self._discovery[api_version] = served
        return served

    # -- objects ------------------------------------------------------------------------------------------
    def get(self, ref: ObjRef) -> dict[str, Any] | None:
        res = self.resource(ref.api_version, ref.kind)
        try:
            obj: dict[str, Any] = self.request("GET", res.path(ref.name, ref.namespace or None), what=f"get {ref}")
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        return obj

    def list(self, api_version: str, kind: str, namespace: str | None, *, label_selector: str | None = None,
             page: int = 2000) -> Iterator[dict[str, Any]]:
        """Every object of a kind in a namespace (or cluster-wide), page by page."""
        res = self.resource(api_version, kind)
        cont = ""
        while True:
            query = [("limit", str(page))]
            if cont:
                query.append(("continue", cont))
            if label_selector:
                query.append(("labelSelector", label_selector))
            doc = self.request("GET", res.collection(namespace), query=query, what=f"list {kind} in {namespace or '*'}")
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                yield item
            cont = (doc.get("metadata") or {}).get("continue") or ""
            if not cont:
                return

    def apply(self, body: Mapping[str, Any], *, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
        """Server-side apply with our field manager and strict field validation."""
        meta = body.get("metadata") or {}
        res = self.resource(str(body["apiVersion"]), str(body["kind"]))
        query = [("fieldManager", self.field_manager), ("fieldValidation", "Strict")]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        ns = meta.get("namespace") if res.namespaced else None
        obj: dict[str, Any] = self.request(
            "PATCH", res.path(str(meta["name"]), ns), query=query, body=body,
            content_type="application/apply-patch+yaml",
            what=f"{'dry-run ' if dry_run else ''}apply {body['kind']}/{ns + '/' if ns else ''}{meta['name']}")
        return obj

    def delete(self, ref: ObjRef, *, uid: str | None = None, propagation: str = "Background") -> bool:
        """Delete one object; False if it was already gone. With `uid`, only that incarnation of it."""
        res = self.resource(ref.api_version, ref.kind)
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", res.path(ref.name, ref.namespace or None), body=body, what=f"delete {ref}")
        except KubeError as e:
            if e.status == 404:
                return False
            raise
        return True

    def create(self, api_version: str, kind: str, namespace: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        res = self.resource(api_version, kind)
        obj: dict[str, Any] = self.request("POST", res.collection(namespace), body=body, what=f"create {kind}")
        return obj


def connect(kubeconfig: str | None = None, context: str | None = None, *, field_manager: str = FIELD_MANAGER,
            impersonate: str | None = None) -> Kube:
    """A Kube for a kubeconfig (and context), or the in-cluster service account when there is none."""
    import os

    from kubernetes import client, config

    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            api = config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False)
        else:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            api = client.ApiClient(cfg)
    except (config.ConfigException, OSError, TypeError) as e:
        raise ExternalError(f"cannot load Kubernetes credentials: {e}") from e
    return Kube(api, field_manager=field_manager, impersonate=impersonate)
