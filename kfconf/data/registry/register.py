"""Register one model version in the Kubeflow Model Registry, idempotently (kfconf registration Job).

Standard library only: it runs in a plain python image. Input (environment):
  MODEL_REGISTRY_URL         base URL including the API path, e.g.
                             http://model-registry-service.kubeflow.svc.cluster.local:8080/api/model_registry/v1alpha3
  KFCONF_REGISTRATION        JSON {"registeredModel": {...}, "modelVersion": {...}, "modelArtifact": {...}}
                             in the REST API's field names (RegisteredModelCreate, ModelVersionCreate without
                             registeredModelId, ModelArtifactCreate)
  MODEL_REGISTRY_TOKEN_FILE  optional: a file holding a bearer token (e.g. the projected service account token)
  KFCONF_STOP_ISTIO_SIDECAR  "true": ask an Istio sidecar to exit at the end, so the Job can complete

Every field given is desired state: the RegisteredModel is found by name or created, the ModelVersion by
name under it, the ModelArtifact by name under the version; whatever differs is PATCHed (custom properties
are merged, so properties others set are kept). A second run changes nothing. Exit 0 on success.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

RETRIES = 6
"""Attempts per request while the registry is unreachable or answers 5xx/429 (1+2+4+8+16 s between)."""
IMMUTABLE = ("name", "registeredModelId", "artifactType")


class RegistryError(Exception):
    pass


class Client:
    def __init__(self, base: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, params: dict[str, str] | None = None,
             body: dict[str, Any] | None = None) -> tuple[int, Any]:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay = 1.0
        for attempt in range(RETRIES):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                    return resp.status, json.loads(raw) if raw else None
            except urllib.error.HTTPError as e:
                text = e.read().decode("utf-8", "replace")
                if e.code in (429, 500, 502, 503, 504) and attempt < RETRIES - 1:
                    log(f"{method} {path}: HTTP {e.code}, retrying in {delay:.0f}s")
                else:
                    return e.code, _json_or_text(text)
            except (urllib.error.URLError, OSError) as e:
                if attempt == RETRIES - 1:
                    raise RegistryError(f"{method} {url}: {e}") from e
                log(f"{method} {path}: {e}, retrying in {delay:.0f}s")
            time.sleep(delay)
            delay *= 2
        raise RegistryError(f"{method} {url}: no answer")  # pragma: no cover - the loop returns or raises

    def find(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        status, body = self.call("GET", path, params)
        if status == 404:
            return None
        if status != 200 or not isinstance(body, dict):
            raise RegistryError(f"GET {path} {params}: HTTP {status}: {body}")
        return body

    def send(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = self.call(method, path, body=body)
        if status not in (200, 201) or not isinstance(answer, dict):
            raise RegistryError(f"{method} {path}: HTTP {status}: {answer}")
        return answer


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def log(message: str) -> None:
    print(message, flush=True)


def changes(found: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The fields of `desired` the registry holds differently (custom properties merged into the found ones)."""
    delta: dict[str, Any] = {}
    for key, value in desired.items():
        if key in IMMUTABLE:
            continue
        if key == "customProperties":
            merged = {**(found.get(key) or {}), **value}
            if merged != (found.get(key) or {}):
                delta[key] = merged
        elif found.get(key) != value:
            delta[key] = value
    return delta


def ensure(client: Client, what: str, found: dict[str, Any] | None, desired: dict[str, Any],
           create: tuple[str, str], update: str) -> dict[str, Any]:
    """Create when missing, PATCH what differs, otherwise leave it; log what happened."""
    label = f"{what} {desired.get('name')!r}"
    if found is None:
        obj = client.send(create[0], create[1], desired)
        log(f"{label}: created (id {obj.get('id')})")
        return obj
    delta = changes(found, desired)
    if not delta:
        log(f"{label}: unchanged (id {found.get('id')})")
        return found
    if "artifactType" in desired:
        delta["artifactType"] = desired["artifactType"]  # the API picks the artifact schema by it
    obj = client.send("PATCH", update.format(id=found["id"]), delta)
    log(f"{label}: updated {', '.join(sorted(k for k in delta if k != 'artifactType'))} (id {obj.get('id')})")
    return obj


def register(client: Client, want: dict[str, Any]) -> dict[str, Any]:
    rm_want = dict(want["registeredModel"])
    rm = ensure(client, "registered model", client.find("/registered_model", {"name": rm_want["name"]}),
                rm_want, ("POST", "/registered_models"), "/registered_models/{id}")
    mv_want = {**want["modelVersion"], "registeredModelId": str(rm["id"])}
    mv = ensure(client, "model version",
                client.find("/model_version", {"name": mv_want["name"], "parentResourceId": str(rm["id"])}),
                mv_want, ("POST", "/model_versions"), "/model_versions/{id}")
    ma_want = {"artifactType": "model-artifact", **want["modelArtifact"]}
    ma = ensure(client, "model artifact",
                client.find("/model_artifact", {"name": ma_want["name"], "parentResourceId": str(mv["id"])}),
                ma_want, ("POST", f"/model_versions/{mv['id']}/artifacts"), "/model_artifacts/{id}")
    return {"registeredModel": rm, "modelVersion": mv, "modelArtifact": ma}


def stop_istio_sidecar() -> None:
    req = urllib.request.Request("http://127.0.0.1:15020/quitquitquit", data=b"", method="POST")
    with contextlib.suppress(OSError):  # no sidecar (or a native sidecar that exits by itself); URLError is OSError
        urllib.request.urlopen(req, timeout=2).close()


def main() -> int:
    try:
        base = os.environ["MODEL_REGISTRY_URL"]
        want = json.loads(os.environ["KFCONF_REGISTRATION"])
    except (KeyError, ValueError) as e:
        log(f"error: MODEL_REGISTRY_URL and KFCONF_REGISTRATION (JSON) are required: {e}")
        return 2
    token = None
    token_file = os.environ.get("MODEL_REGISTRY_TOKEN_FILE")
    if token_file:
        with open(token_file, encoding="utf-8") as f:
            token = f.read().strip()
    try:
        result = register(Client(base, token), want)
        mv = result["modelVersion"]
        log(f"model {result['registeredModel'].get('name')}/{mv.get('name')} registered: "
            f"{result['modelArtifact'].get('uri')}")
        return 0
    except RegistryError as e:
        log(f"error: {e}")
        return 1
    finally:
        if os.environ.get("KFCONF_STOP_ISTIO_SIDECAR") == "true":
            stop_istio_sidecar()


if __name__ == "__main__":
    sys.exit(main())
