"""Helpers the component tests share: the upstream CRDs and schemas they check rendered objects against,
and a project made from spec text in a temporary folder."""

from __future__ import annotations

import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.core.resource import Resource
from kfconf.testing.crds import strict

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference"
TRAINER_CRDS = {"v2.3.0": REFERENCE / "crds/trainer.kubeflow.org",
                "v2.1.0": REFERENCE / "crds/trainer.kubeflow.org/v2.1.0"}
STACK_TRAINER = {"kubeflow-latest": "v2.3.0", "kubeflow-26.03": "v2.1.0"}


@cache
def crd_validator(path: Path) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load(path.read_text())
    schema = strict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def crd_errors(body: dict[str, Any], crd: Path) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in crd_validator(crd).iter_errors(body)]


def make_project(tmp_path: Path, spec: str, stack: str | None = None, env: str | None = None,
                 overlays: dict[str, str] | None = None) -> tuple[Any, Any]:
    (tmp_path / "ml-project.yaml").write_text(textwrap.dedent(spec))
    for name, text in (overlays or {}).items():
        (tmp_path / "overlays").mkdir(exist_ok=True)
        (tmp_path / "overlays" / f"{name}.yaml").write_text(textwrap.dedent(text))
    project, st, _ = load_project(tmp_path, env, stack)
    return project, st


def rendered(project: Any, stack: Any, component: str) -> list[Resource]:
    from kfconf.components import BY_KEY

    return list(BY_KEY[component].run_render(RenderContext(project, stack, component)))


def by_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r.kind == kind]


def swagger_errors(value: Any, type_name: str, at: str = "") -> list[str]:
    """Walk a body along the openapi_types of the kubeflow-training 1.9 SDK models (and the Kubernetes
    client models they refer to); an unknown key or a wrong scalar type is an error."""
    import kubeflow.training.models as kt
    import kubernetes.client.models as k8s

    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if type_name in scalars:
        ok = isinstance(value, scalars[type_name]) and not (type_name == "int" and isinstance(value, bool))
        return [] if ok else [f"{at}: expected {type_name}, got {value!r}"]
    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{at}: expected a list"]
        return [e for i, v in enumerate(value) for e in swagger_errors(v, type_name[5:-1], f"{at}[{i}]")]
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{at}: expected a mapping"]
        inner = type_name[5:-1].split(", ", 1)[1]
        return [e for k, v in value.items() for e in swagger_errors(v, inner, f"{at}.{k}")]
    cls = getattr(kt, type_name, None) or getattr(k8s, type_name)
    if not isinstance(value, dict):
        return [f"{at}: expected a {type_name} mapping"]
    by_json = {j: a for a, j in cls.attribute_map.items()}
    out = []
    for key, v in value.items():
        if key not in by_json:
            out.append(f"{at}.{key}: unknown field of {type_name}")
        else:
            out += swagger_errors(v, cls.openapi_types[by_json[key]], f"{at}.{key}")
    return out
