"""The CRDs a test control plane installs for a stack: the upstream files of the reference data, with
their kustomize patches applied, plus stand-ins for kinds the reference has no CRD for."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

STACKS = ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy", "local")

# No Training Operator v1 (kubeflow.org/v1 PyTorchJob …) CRD is in the reference data: the legacy
# stack's plane gets every shared CRD and, for PyTorchJob, only the stand-in from
# :func:`standin_crds_for_stack`.
_TRAINER_DIR = "trainer.kubeflow.org"
_TRAINER_21_DIR = "v2.1.0"


def crd_files_for_stack(stack_name: str, reference_dir: Path) -> list[Path]:
    """CRD files (plus JSON6902 ``*.validation_patches.yaml`` for them) a plane for ``stack_name`` installs.

    ``reference_dir`` is the ``shared/reference`` directory (it has ``crds/``).

    * ``kubeflow-latest`` / ``local``: shared CRDs + Trainer 2.3 (``crds/trainer.kubeflow.org/*.yaml``)
    * ``kubeflow-26.03``: shared CRDs + Trainer 2.1 (``crds/trainer.kubeflow.org/v2.1.0/*.yaml``)
    * ``kubeflow-legacy``: shared CRDs only; its training target, the Training Operator v1 PyTorchJob, has no
      CRD in the reference data (see :func:`standin_crds_for_stack`).

    Trainer 2.1 and 2.3 serve the same group/kind with different schemas: one control plane per stack.
    """
    crds = Path(reference_dir) / "crds"
    if not crds.is_dir():
        raise FileNotFoundError(f"no crds/ directory under {reference_dir}")
    shared = sorted(
        p for p in crds.rglob("*.yaml") if p.relative_to(crds).parts[0] != _TRAINER_DIR and p.is_file()
    )
    trainer23 = sorted((crds / _TRAINER_DIR).glob("*.yaml"))
    trainer21 = sorted((crds / _TRAINER_DIR / _TRAINER_21_DIR).glob("*.yaml"))
    if stack_name in ("kubeflow-latest", "local"):
        files = shared + trainer23
    elif stack_name == "kubeflow-26.03":
        files = shared + trainer21
    elif stack_name == "kubeflow-legacy":
        files = shared
    else:
        raise ValueError(f"unknown stack {stack_name!r}; known: {', '.join(STACKS)}")
    # patches last, so install_crds sees their targets first (install_crds does not depend on the order)
    return [p for p in files if not _is_patch_file(p)] + [p for p in files if _is_patch_file(p)]


def standin_crds_for_stack(stack_name: str) -> list[dict[str, Any]]:
    """Envelope-only CRDs for kinds a stack targets whose real CRD is not in the reference data.

    ``kubeflow-legacy`` targets ``kubeflow.org/v1`` PyTorchJob (Training Operator v1). Its stand-in accepts
    any spec (``x-kubernetes-preserve-unknown-fields``): the API server then checks only apiVersion/kind,
    the name, namespace, labels and annotations — not the job's fields. Everything else on that plane is
    the real upstream CRD.
    """
    if stack_name != "kubeflow-legacy":
        return []
    return [_preserve_unknown_crd("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs", "pytorchjob")]


def _preserve_unknown_crd(group: str, version: str, kind: str, plural: str, singular: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "annotations": {"kfconf.dev/standin": "envelope-only; the real CRD is not in the reference data"},
        },
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": singular},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }


_PATCH_RE = re.compile(r"^(?P<group>[a-z0-9.-]+)_(?P<plural>[a-z0-9-]+)\.[a-z0-9_]*patch(es)?\.ya?ml$")


def _is_patch_file(path: Path) -> bool:
    return _PATCH_RE.match(path.name) is not None


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the CRDs are ~10 MB of YAML


def _yaml_docs(path: Path) -> list[Any]:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _YAML_CACHE:
        with open(path, "rb") as f:
            _YAML_CACHE[key] = list(yaml.load_all(f, Loader=_Loader))
    return copy.deepcopy(_YAML_CACHE[key])


_YAML_CACHE: dict[tuple[str, int, int], list[Any]] = {}


def load_crds(files: Iterable[Path]) -> list[dict[str, Any]]:
    """CustomResourceDefinition objects from ``files``, with JSON6902 patch files applied.

    A patch file ``<group>_<plural>.<x>patches.yaml`` (as upstream's kustomize uses, e.g. the Notebook
    ``validation_patches``) targets the CRD ``<plural>.<group>``.
    """
    crds: dict[str, dict[str, Any]] = {}
    patches: list[tuple[str, Path, list[dict[str, Any]]]] = []
    for path in files:
        path = Path(path)
        m = _PATCH_RE.match(path.name)
        if m:
            ops = _yaml_docs(path)[0]
            patches.append((f"{m['plural']}.{m['group']}", path, ops))
            continue
        for doc in _yaml_docs(path):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                crds[doc["metadata"]["name"]] = doc
    for target, path, ops in patches:
        if target not in crds:
            raise ValueError(f"{path}: patch target CRD {target!r} is not among the files")
        crds[target] = json6902(crds[target], ops)
    return list(crds.values())


def json6902(doc: dict[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply the add/replace/remove operations of a JSON patch (RFC 6902) to a copy of ``doc``."""
    out = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
        parent: Any = out
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(idx, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[idx] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[idx]
            else:
                raise ValueError(f"unsupported JSON patch op {kind!r}")
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise KeyError(f"replace of missing path {op['path']}")
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            else:
                raise ValueError(f"unsupported JSON patch op {kind!r}")
    return out
