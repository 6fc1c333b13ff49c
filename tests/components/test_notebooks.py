"""Notebooks renderer: Notebook bodies, checked against the Notebook CRD with its upstream kustomize
validation patch (strict); PodDefault selectors match the labels; Notebook health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.components import BY_KEY
from kfconf.components.notebooks.health import HEALTH, notebook
from kfconf.core.resource import Resource
from kfconf.testing.crds import CrdSchema

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO.parent / "shared" / "reference" / "crds" / "kubeflow.org"
SCHEMA = CrdSchema(CRDS / "kubeflow.org_notebooks.yaml", "v1",
                   patch=CRDS / "kubeflow.org_notebooks.validation_patches.yaml")
STACKS = ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy", "local")

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: a@example.com}
spec:
  profile:
    namespace: team-a
    podDefaults: [{name: hf-token, secretVolumes: {hf: /etc/hf}}, {name: s3-access, env: {AWS_REGION: eu-west-1}}]
  images: {lab: ghcr.io/acme/lab:3.1}
  notebooks:
    - name: explore
      image: jupyter-pytorch-cuda
      resources: {cpu: 4, memory: 16Gi, gpu: 1, limits: {cpu: 8}}
      env: {MLFLOW_TRACKING_URI: "http://mlflow:5000", API_TOKEN: {secret: api, key: token}}
      volumes:
        - {name: workspace, mountPath: /home/jovyan, claim: explore-workspace}
        - {name: shm, mountPath: /dev/shm, emptyDir: true}
      podDefaults: [hf-token, s3-access]
      placement:
        nodeSelector: {pool: gpu}
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
    - {name: custom, image: lab, stopped: true}
    - {name: code, image: codeserver-python}
    - {name: studio, image: "ghcr.io/acme/rstudio-tidyverse:1"}
"""


def project(tmp_path: Path, spec: str = SPEC, stack: str | None = None) -> tuple[Any, Any]:
    (tmp_path / "ml-project.yaml").write_text(spec)
    p, st, _ = load_project(tmp_path, None, stack)
    return p, st


def render(p: Any, st: Any, component: str = "notebooks") -> list[Resource]:
    return list(BY_KEY[component].run_render(RenderContext(p, st, component)))


def get(resources: list[Resource], name: str) -> Resource:
    return next(r for r in resources if r.name == name)


def test_notebook_body(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    nb = get(render(p, st), "explore")
    assert nb.body == {
        "apiVersion": "kubeflow.org/v1", "kind": "Notebook",
        "metadata": {"name": "explore", "namespace": "team-a",
                     "labels": {"hf-token": "true", "s3-access": "true"},
                     "annotations": {"notebooks.kubeflow.org/server-type": "jupyter"}},
        "spec": {"template": {"spec": {
            "containers": [{
                "name": "explore",
                "image": "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.10.0",
                "resources": {"limits": {"cpu": "8", "memory": "16Gi", "nvidia.com/gpu": "1"},
                              "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}},
                "env": [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"},
                        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
                "volumeMounts": [{"name": "workspace", "mountPath": "/home/jovyan"},
                                 {"name": "shm", "mountPath": "/dev/shm"}],
            }],
            "serviceAccountName": "default-editor",
            "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": "explore-workspace"}},
                        {"name": "shm", "emptyDir": {}}],
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        }}},
    }
    assert nb.explain["spec.template.spec.containers[0].image"] == \
        "stack kubeflow-latest: images.notebook:jupyter-pytorch-cuda"
    assert nb.explain["metadata.labels.hf-token"] == "ml-project.yaml:17"


def test_images_server_types_and_stopped(tmp_path: Path) -> None:
    resources = render(*project(tmp_path))
    custom = get(resources, "custom")
    assert custom.body["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/lab:3.1"
    assert custom.explain["spec.template.spec.containers[0].image"] == "ml-project.yaml:8"
    assert custom.body["metadata"]["annotations"] == {"notebooks.kubeflow.org/server-type": "jupyter",
                                                      "kubeflow-resource-stopped": "true"}
    assert "labels" not in custom.body["metadata"]
    assert get(resources, "code").body["metadata"]["annotations"] == {
        "notebooks.kubeflow.org/server-type": "group-one", "notebooks.kubeflow.org/http-rewrite-uri": "/"}
    studio = get(resources, "studio").body
    assert studio["metadata"]["annotations"] == {
        "notebooks.kubeflow.org/server-type": "group-two", "notebooks.kubeflow.org/http-rewrite-uri": "/",
        "notebooks.kubeflow.org/http-headers-request-set": '{"X-RStudio-Root-Path":"/notebook/team-a/studio/"}'}
    assert studio["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/rstudio-tidyverse:1"


def test_pod_defaults_select_the_notebook_pods(tmp_path: Path) -> None:
    """The controller copies the Notebook's labels to its pod; each PodDefault's selector must match them."""
    p, st = project(tmp_path)
    pds = {r.name: r.body["spec"]["selector"]["matchLabels"] for r in render(p, st, "profile")
           if r.kind == "PodDefault"}
    labels = get(render(p, st), "explore").body["metadata"]["labels"]
    for name in ("hf-token", "s3-access"):
        assert pds[name].items() <= labels.items()


@pytest.mark.parametrize("stack", STACKS)
def test_valid_against_the_crd(tmp_path: Path, stack: str) -> None:
    resources = render(*project(tmp_path, stack=stack))
    assert len(resources) == 4
    for r in resources:
        assert SCHEMA.errors(r.body) == [], r.id


def test_the_patched_schema_can_fail(tmp_path: Path) -> None:
    body = get(render(*project(tmp_path)), "explore").body
    del body["spec"]["template"]["spec"]["containers"][0]["image"]  # the kustomize patch requires it
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"port": 8888}]
    found = SCHEMA.errors(body)
    assert any("'image' is a required property" in e for e in found)
    assert any("port" in e for e in found)
    body["spec"]["template"]["spec"]["containers"] = []
    assert any("should be non-empty" in e or "too short" in e for e in SCHEMA.errors(body))


@pytest.mark.parametrize(("example", "env"), [("churn", None), ("churn", "staging"), ("llm-finetune", None),
                                              ("llm-finetune", "dev"), ("llm-finetune", "prod")])
def test_examples(example: str, env: str | None) -> None:
    p, st, _ = load_project(REPO / "examples" / example, env)
    resources = render(p, st)
    assert resources
    for r in resources:
        assert SCHEMA.errors(r.body) == [], r.id


def test_no_notebooks_in_churn_prod() -> None:
    p, st, _ = load_project(REPO / "examples" / "churn", "prod")
    assert render(p, st) == []  # prod deletes the notebook entry


def _nb(status: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": {"name": "explore", **meta},
            "status": status}


@pytest.mark.parametrize(("obj", "state", "message"), [
    (_nb({"readyReplicas": 1, "containerState": {"running": {}}}), "Healthy", "ready"),
    (_nb({"readyReplicas": 0}, annotations={"kubeflow-resource-stopped": "2026-01-01T00:00:00Z"}), "Suspended",
     "stopped"),
    (_nb({"containerState": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}), "Degraded",
     "ImagePullBackOff: not found"),
    (_nb({"containerState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}), "Degraded", "OOMKilled"),
    (_nb({"conditions": [{"type": "PodScheduled", "status": "False",
                          "message": "0/3 nodes are available: insufficient nvidia.com/gpu"}]}), "Progressing",
     "insufficient nvidia.com/gpu"),
    (_nb({"containerState": {"waiting": {"reason": "ContainerCreating"}}}), "Progressing", "start"),
    (_nb({}, deletionTimestamp="2026-01-01T00:00:00Z"), "Progressing", "deleted"),
])
def test_health(obj: dict[str, Any], state: str, message: str) -> None:
    got = notebook(obj)
    assert (got.state, message in got.message) == (state, True), got
    assert HEALTH["kubeflow.org/Notebook"] is notebook
