"""Server-side apply against a test control plane, through the ``kubernetes`` client's REST layer:
resolving a kind to its resource, applying, and turning a refusal into an :class:`ApplyError`."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

DEFAULT_FIELD_MANAGER = "kfconf-test"

class ApplyError(RuntimeError):
    """The API server refused an object. ``status`` is the HTTP code, ``details`` the decoded Status."""

    def __init__(self, ref: str, status: int, message: str, details: Any = None):
        super().__init__(f"{ref}: HTTP {status}: {message}")
        self.ref = ref
        self.status = status
        self.message = message
        self.details = details


@dataclass(frozen=True)
class APIResource:
    group_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, name: str, namespace: str | None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced: a namespace is needed")
            return f"{base}/namespaces/{namespace}/{self.plural}/{name}"
        return f"{base}/{self.plural}/{name}"


def resolve_resource(
    api_client: ApiClient,
    api_version: str,
    kind: str,
    cache: dict[tuple[str, str], APIResource] | None = None,
) -> APIResource:
    """Discover the REST resource (plural, scope) for ``apiVersion``/``kind`` from the server."""
    key = (api_version, kind)
    if cache is not None and key in cache:
        return cache[key]
    from kubernetes.client.exceptions import ApiException

    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    try:
        data = api_client.call_api(
            path,
            "GET",
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            response_type="object",
            _return_http_data_only=True,
            _preload_content=True,
        )
    except ApiException as e:
        raise ApplyError(f"{api_version}/{kind}", e.status, f"group/version not served: {e.reason}") from e
    for r in data.get("resources", []):
        if r.get("kind") == kind and "/" not in r.get("name", ""):
            res = APIResource(api_version, kind, r["name"], bool(r.get("namespaced")))
            if cache is not None:
                cache[key] = res
            return res
    raise ApplyError(f"{api_version}/{kind}", 404, f"kind {kind} is not served in {api_version}")


def object_ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('apiVersion')}/{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def server_side_apply(
    api_client: ApiClient,
    obj: Mapping[str, Any],
    *,
    dry_run: bool = False,
    field_manager: str = DEFAULT_FIELD_MANAGER,
    force: bool = True,
    field_validation: str = "Strict",
    namespace: str | None = None,
    cache: dict[tuple[str, str], APIResource] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Server-side apply ``obj`` (PATCH ``application/apply-patch+yaml``, ``fieldValidation=Strict``).

    ``namespace`` is used for a namespaced kind whose object has none. Returns the object the server
    answers with (for ``dry_run`` the object as it would be stored). Raises :class:`ApplyError`.
    The server's ``Warning`` headers (deprecated APIs, …) are appended to ``warnings`` when given.
    """
    from kubernetes.client.exceptions import ApiException

    body = dict(obj)
    meta = dict(body.get("metadata") or {})
    ref = object_ref(body)
    if not body.get("apiVersion") or not body.get("kind") or not meta.get("name"):
        raise ApplyError(ref, 0, "object needs apiVersion, kind and metadata.name")
    res = resolve_resource(api_client, str(body["apiVersion"]), str(body["kind"]), cache)
    ns = meta.get("namespace") or namespace
    if res.namespaced and ns and meta.get("namespace") != ns:
        meta["namespace"] = ns
        body["metadata"] = meta
    if not res.namespaced and meta.get("namespace"):
        raise ApplyError(ref, 0, f"{res.kind} is cluster-scoped but the object has metadata.namespace")
    if res.namespaced and not ns:
        raise ApplyError(ref, 0, f"{res.kind} is namespaced but no namespace is given")
    query: list[tuple[str, str]] = [("fieldManager", field_manager), ("fieldValidation", field_validation)]
    if force:
        query.append(("force", "true"))
    if dry_run:
        query.append(("dryRun", "All"))
    try:
        data, _code, headers = api_client.call_api(
            res.path(str(meta["name"]), ns),
            "PATCH",
            query_params=query,
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            response_type="object",
            _return_http_data_only=False,
        )
        if warnings is not None and headers:
            warnings.extend(f"{ref}: {w}" for w in _warning_headers(headers))
        return data
    except ApiException as e:
        message, details = str(e.reason), None
        with contextlib.suppress(Exception):
            details = json.loads(e.body)
            message = details.get("message", message)
        raise ApplyError(ref, int(e.status or 0), message, details) from e


def _warning_headers(headers: Any) -> list[str]:
    """Texts of ``Warning: 299 - "text"`` headers (urllib3 joins repeated headers with ", ")."""
    raw = headers.get("Warning") if hasattr(headers, "get") else None
    if not raw:
        return []
    return [m.group(1) for m in re.finditer(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"', raw)] or [raw]
