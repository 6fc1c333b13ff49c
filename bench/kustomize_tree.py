"""An equivalent kustomize tree made from kfconf's own output, for the build benchmark's peer.

Per project: `base/` holds the base build (no environment) as one file per resource plus a
kustomization.yaml; `overlays/ENV/kustomization.yaml` takes the base and applies the environment's
differences: JSON 6902 patches for changed resources (kustomize applies those to any kind, with or
without a schema), new resources as files of the overlay, and `$patch: delete` for resources the
environment drops. `all/ENV/kustomization.yaml` lists every project's overlay for one environment, so one
`kustomize build` renders what kfconf renders for that environment across the monorepo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

Body = dict[str, Any]


def rid(body: Body) -> tuple[str, str, str, str]:
    meta = body.get("metadata", {})
    return (str(body.get("apiVersion")), str(body.get("kind")), str(meta.get("namespace") or ""),
            str(meta.get("name")))


def _ptr(path: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def json_patch(old: Any, new: Any, path: list[str | int] | None = None) -> list[dict[str, Any]]:
    """RFC 6902 operations turning `old` into `new`: mappings key by key, anything else replaced whole."""
    path = path or []
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[dict[str, Any]] = []
        for k in sorted(old.keys() - new.keys()):
            ops.append({"op": "remove", "path": _ptr([*path, k])})
        for k in sorted(new):
            if k not in old:
                ops.append({"op": "add", "path": _ptr([*path, k]), "value": new[k]})
            elif old[k] != new[k]:
                ops.extend(json_patch(old[k], new[k], [*path, k]))
        return ops
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": _ptr(path), "value": new}]


def _dump(doc: Any) -> str:
    # kfconf's own emitter: it quotes strings that kustomize's YAML 1.2 reader would take for numbers
    from kfconf.build.emit import Dumper

    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=4096)


def _file(body: Body) -> str:
    _, kind, ns, name = rid(body)
    return f"{ns or '_cluster'}.{kind.lower()}.{name}.yaml"


def write_project(root: Path, base: list[Body], envs: dict[str, list[Body]]) -> None:
    """Write ROOT/base and ROOT/overlays/ENV for one project."""
    (root / "base").mkdir(parents=True, exist_ok=True)
    names = []
    for b in base:
        names.append(_file(b))
        (root / "base" / names[-1]).write_text(_dump(b))
    (root / "base" / "kustomization.yaml").write_text(_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": names}))
    by_id = {rid(b): b for b in base}
    for env, bodies in envs.items():
        d = root / "overlays" / env
        d.mkdir(parents=True, exist_ok=True)
        resources = ["../../base"]
        patches: list[dict[str, Any]] = []
        seen = set()
        for b in bodies:
            key = rid(b)
            seen.add(key)
            old = by_id.get(key)
            if old is None:
                resources.append(_file(b))
                (d / resources[-1]).write_text(_dump(b))
                continue
            ops = json_patch(old, b)
            if ops:
                patches.append({"target": _target(b), "patch": json.dumps(ops, sort_keys=True)})
        for key, old in by_id.items():
            if key not in seen:
                meta: dict[str, Any] = {"name": old["metadata"]["name"]}
                if old["metadata"].get("namespace"):
                    meta["namespace"] = old["metadata"]["namespace"]
                patches.append({"patch": _dump({"$patch": "delete", "apiVersion": old["apiVersion"],
                                                "kind": old["kind"], "metadata": meta})})
        k: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                             "resources": resources}
        if patches:
            k["patches"] = patches
        (d / "kustomization.yaml").write_text(_dump(k))


def _target(body: Body) -> dict[str, str]:
    group, _, version = str(body["apiVersion"]).rpartition("/")
    t = {"group": group, "version": version, "kind": body["kind"], "name": body["metadata"]["name"]}
    if body["metadata"].get("namespace"):
        t["namespace"] = body["metadata"]["namespace"]
    return t


def write_aggregate(root: Path, env: str, overlays: list[Path]) -> Path:
    """ROOT/all/ENV/kustomization.yaml listing every project's overlay of ENV."""
    d = root / "all" / env
    d.mkdir(parents=True, exist_ok=True)
    rel = [str(Path("..", "..", o.relative_to(root))) for o in overlays]
    (d / "kustomization.yaml").write_text(_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": rel}))
    return d


def parse_stream(text: bytes | str) -> dict[tuple[str, str, str, str], Body]:
    out: dict[tuple[str, str, str, str], Body] = {}
    for doc in yaml.load_all(text, Loader=yaml.CSafeLoader):
        if doc:
            out[rid(doc)] = doc
    return out


def differences(kfconf: dict[tuple[str, str, str, str], Body], kustomize: dict[tuple[str, str, str, str], Body],
                limit: int = 5) -> list[str]:
    """What differs between the two parsed outputs (empty when they are equivalent)."""
    out = []
    for key in sorted(kfconf.keys() | kustomize.keys()):
        a, b = kfconf.get(key), kustomize.get(key)
        if a is None or b is None:
            out.append(f"{'/'.join(key)}: only in {'kustomize' if a is None else 'kfconf'}")
        elif a != b:
            ops = json_patch(a, b)
            out.append(f"{'/'.join(key)}: {json.dumps(ops)[:300]}")
        if len(out) >= limit:
            break
    return out
