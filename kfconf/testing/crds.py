"""Strict checks of generated objects against upstream schemas, for tests.

- `CrdSchema`: a CRD version's openAPIV3Schema made strict the way the API server is with
  fieldValidation=Strict: `additionalProperties: false` wherever a schema has `properties` and no
  `x-kubernetes-preserve-unknown-fields`. Optional JSON6902 patches (the Notebook CRD's kustomize
  validation patch) and dropped fields (a schema for an older release that lacks newer fields).
- `core_errors`: core Kubernetes kinds (Job, ConfigMap, RBAC …) through kubernetes-validate, strict.
Nothing here reads files on its own: callers pass the reference paths (tests only).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

K8S_VERSION = "1.33"


def strict(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
        if not out.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [strict(s) for s in out[key]]
    return out


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def apply_patch(doc: Any, ops: Iterable[dict[str, Any]]) -> Any:
    """JSON6902 `add`/`replace` of object members (all the Notebook validation patch uses)."""
    out = copy.deepcopy(doc)
    for op in ops:
        if op["op"] not in ("add", "replace"):
            raise ValueError(f"unsupported patch op {op['op']}")
        *parents, last = _pointer(op["path"])
        node = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = copy.deepcopy(op["value"])
    return out


@dataclass(frozen=True)
class CrdSchema:
    path: Path
    version: str | None = None
    """The served version to check against (default: the storage version)."""
    patch: Path | None = None
    drop: tuple[tuple[str, ...], ...] = field(default=())
    """Schema paths (below openAPIV3Schema) to remove: fields a older release does not have."""

    @property
    def validator(self) -> jsonschema.protocols.Validator:
        return _validator(self)

    def errors(self, body: dict[str, Any]) -> list[str]:
        found = sorted(self.validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
        return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


@cache
def _load(path: Path) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the KServe CRD is 2 MB
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


@cache
def _validator(spec: CrdSchema) -> jsonschema.protocols.Validator:
    crd = _load(spec.path)
    if spec.patch is not None:
        crd = apply_patch(crd, _load(spec.patch))
    versions = crd["spec"]["versions"]
    chosen = next((v for v in versions if v["name"] == spec.version), None) if spec.version else \
        next((v for v in versions if v.get("storage")), versions[0])
    if chosen is None:
        raise KeyError(f"{spec.path.name} serves no version {spec.version}")
    schema = copy.deepcopy(chosen["schema"]["openAPIV3Schema"])
    for where in spec.drop:
        node = schema
        for part in where[:-1]:
            node = node[part]
        del node[where[-1]]
    return jsonschema.Draft7Validator(strict(schema))


def core_errors(body: dict[str, Any], k8s_version: str = K8S_VERSION) -> list[str]:
    """A core Kubernetes object checked strictly against the Kubernetes OpenAPI (kubernetes-validate)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(body, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'.'.join(map(str, e.path)) or '<root>'}: {e.message}"]
    return []


def drop_paths(*paths: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """`("spec", "canary")` → the schema path `properties.spec.properties.canary`."""
    out = []
    for path in paths:
        steps: list[str] = []
        for part in path:
            steps += ["items"] if part == "[]" else ["properties", part]
        out.append(tuple(steps))
    return tuple(out)
