"""The built-in overlays (kfconf/data/overlays): what each one changes in a project and in the rendered
objects, where a merged value says it came from, and that they apply to projects lacking some sections."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.components import BY_KEY
from kfconf.core.errors import FindingsError
from kfconf.core.resource import Resource
from kfconf.spec.environments import builtin_overlays

REPO = Path(__file__).resolve().parents[2]
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SPOT_TOLERATION = {"key": "kfconf.dev/spot", "operator": "Exists", "effect": "NoSchedule"}

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: a@example.com}
spec:
  profile: {namespace: team-a}
  data:
    - {name: features, file: "s3a://b/features.py"}
  training:
    - {name: trainer, image: ghcr.io/acme/t:1, command: [python, train.py], resources: {gpu: 2}}
  serving:
    - {name: clf, model: "s3://b/clf", format: sklearn, replicas: {min: 1, max: 4}}
    - {name: llm, model: "hf://acme/llm", format: huggingface, replicas: {min: 1, max: 2}, resources: {gpu: 1}}
  notebooks:
    - {name: explore, image: jupyter-scipy}
"""


def project(tmp_path: Path, overlay: str, spec: str = SPEC) -> Any:
    (tmp_path / "ml-project.yaml").write_text(spec)
    (tmp_path / "overlays").mkdir(exist_ok=True)
    (tmp_path / "overlays" / "env.yaml").write_text(textwrap.dedent(overlay))
    p, st, _ = load_project(tmp_path, "env")
    return p, st


def include(*names: str, body: str = "") -> str:
    return f"apiVersion: kfconf.dev/v1alpha1\nkind: Overlay\ninclude: [{', '.join(names)}]\n{body}"


def render(p: Any, st: Any, component: str) -> list[Resource]:
    return list(BY_KEY[component].run_render(RenderContext(p, st, component)))


def placement(entry: Any) -> dict[str, Any] | None:
    return None if entry.placement is None else entry.placement.model_dump(by_alias=True, exclude_none=True)


def test_the_builtin_set() -> None:
    assert builtin_overlays() == ["gpu", "prod-hardening", "spot"]


def test_gpu(tmp_path: Path) -> None:
    p, st = project(tmp_path, include("gpu"))
    for key in ("training", "serving", "notebooks"):
        for entry in p.entries(key):
            assert placement(entry) == {"nodeSelector": {}, "tolerations": [GPU_TOLERATION]}, entry.name
    assert p.entries("data")[0].placement is None  # Spark stays where it was
    llm = next(r for r in render(p, st, "serving") if r.name == "llm")
    assert llm.body["spec"]["predictor"]["tolerations"] == [GPU_TOLERATION]
    assert "nodeSelector" not in llm.body["spec"]["predictor"]
    nb = render(p, st, "notebooks")[0]
    assert nb.body["spec"]["template"]["spec"]["tolerations"] == [GPU_TOLERATION]
    line = next(i for i, t in enumerate((REPO / "kfconf/data/overlays/gpu.yaml").read_text().splitlines(), 1)
                if t.strip() == "serving:") + 2  # the `placement:` the tolerations came with
    assert llm.explain["spec.predictor.tolerations"] == f"<kfconf>/overlays/gpu.yaml:{line}"


def test_spot(tmp_path: Path) -> None:
    p, st = project(tmp_path, include("spot"))
    spot = {"nodeSelector": {"kfconf.dev/capacity": "spot"}, "tolerations": [SPOT_TOLERATION]}
    assert placement(p.entries("data")[0]) == spot
    assert placement(p.entries("training")[0]) == spot
    assert all(e.placement is None for e in [*p.entries("serving"), *p.entries("notebooks")])
    app = render(p, st, "data")[-1].body["spec"]
    for role in ("driver", "executor"):
        assert app[role]["nodeSelector"] == {"kfconf.dev/capacity": "spot"}
        assert app[role]["tolerations"] == [SPOT_TOLERATION]


def test_prod_hardening(tmp_path: Path) -> None:
    p, st = project(tmp_path, include("prod-hardening"))
    assert [(s.replicas.min, s.replicas.max) for s in p.entries("serving")] == [(2, 4), (2, 2)]
    assert [n.stopped for n in p.entries("notebooks")] == [True]
    clf = next(r for r in render(p, st, "serving") if r.name == "clf")
    assert clf.body["spec"]["predictor"]["minReplicas"] == 2
    assert clf.explain["spec.predictor.minReplicas"].startswith("<kfconf>/overlays/prod-hardening.yaml:")
    assert clf.explain["spec.predictor.maxReplicas"] == "ml-project.yaml:11"
    nb = render(p, st, "notebooks")[0]
    assert nb.body["metadata"]["annotations"]["kubeflow-resource-stopped"] == "true"


def test_the_environment_overrides_an_included_overlay(tmp_path: Path) -> None:
    body = """\
        spec:
          serving:
            - {name: clf, replicas: {min: 3}}
          notebooks:
            - {name: explore, stopped: false}
        """
    p, _ = project(tmp_path, include("prod-hardening", body=textwrap.dedent(body)))
    assert [s.replicas.min for s in p.entries("serving")] == [3, 2]
    assert [n.stopped for n in p.entries("notebooks")] == [False]
    gone = "spec:\n  notebooks:\n    - {name: explore, $patch: delete}\n"
    p, st = project(tmp_path, include("prod-hardening", body=gone))
    assert p.entries("notebooks") == [] and render(p, st, "notebooks") == []


def test_prod_hardening_needs_room_for_two_replicas(tmp_path: Path) -> None:
    spec = SPEC.replace("replicas: {min: 1, max: 2}", "replicas: {min: 1, max: 1}")
    with pytest.raises(FindingsError) as e:
        project(tmp_path, include("prod-hardening"), spec)
    [d] = e.value.diagnostics
    assert (d.code, d.path) == ("KF104", ("spec", "serving", 1, "replicas"))
    assert d.loc is not None and d.loc.file == "<kfconf>/overlays/prod-hardening.yaml"


def test_later_overlays_replace_earlier_tolerations(tmp_path: Path) -> None:
    """Lists without names replace: with spot after gpu, training tolerates spot only (documented)."""
    p, _ = project(tmp_path, include("gpu", "spot"))
    assert placement(p.entries("training")[0]) == {"nodeSelector": {"kfconf.dev/capacity": "spot"},
                                                   "tolerations": [SPOT_TOLERATION]}
    assert placement(p.entries("serving")[0]) == {"nodeSelector": {}, "tolerations": [GPU_TOLERATION]}


def test_sections_the_project_lacks_stay_absent(tmp_path: Path) -> None:
    spec = SPEC[: SPEC.index("  data:")]
    p, _ = project(tmp_path, include("gpu", "spot", "prod-hardening"), spec)
    for key in ("data", "training", "serving", "notebooks"):
        assert p.entries(key) == [], key


@pytest.mark.parametrize("overlay", ["gpu", "spot", "prod-hardening"])
@pytest.mark.parametrize("example", ["churn", "llm-finetune"])
def test_every_overlay_applies_to_the_examples(tmp_path: Path, example: str, overlay: str) -> None:
    src = REPO / "examples" / example
    (tmp_path / "overlays").mkdir()
    for f in src.rglob("*"):
        if f.is_file() and "overlays" not in f.parts:
            dest = tmp_path / f.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.read_bytes())
    (tmp_path / "overlays" / "env.yaml").write_text(include(overlay))
    p, st, _ = load_project(tmp_path, "env")
    for key in ("profile", "data", "registry", "serving", "notebooks"):
        render(p, st, key)
