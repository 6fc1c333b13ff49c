"""Pipelines renderer: KFP IR parsed back by the official protobufs (unknown fields rejected), Pipeline and
PipelineVersion against the KFP CRDs, run steps whose program really creates and waits (run here against
a local fake API server), and schedules as CronJobs."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from kfconf.core.errors import FindingsError
from kfconf.core.resource import Resource
from tests.components import helpers as T

KFP_CRDS = T.REFERENCE / "crds/pipelines.kubeflow.org"
PLATFORM_EXAMPLE = T.REFERENCE / "examples/pipelines/pipelinespec-with-platform-spec.yaml"
PIPELINE_INFO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
VERSION_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo}
spec:
  profile: {namespace: team-a, owner: a@example.com}
  training:
    - name: mnist
      image: ghcr.io/acme/mnist:2
      command: [python, train.py]
      args: {lr: 0.01, epochs: 3}
      timeoutSeconds: 600
  tuning:
    - name: a-rather-long-tuning-name-of-forty-chars
      trial: training/mnist
      objective: {metric: loss, goal: minimize}
      algorithm: {name: random}
      parameters: {lr: {type: double, min: 0.001, max: 0.1}}
  pipelines:
    - name: nightly
      description: Train, then report.
      schedule: "0 3 * * *"
      parameters: {date: "2026-01-01", rows: 100, dry: false}
      steps:
        - {name: train, run: training/mnist, params: {epochs: 1}}
        - {name: tune, run: tuning/a-rather-long-tuning-name-of-forty-chars, after: [train]}
        - name: report
          after: [train, tune]
          params: {rows: 5}
          container:
            image: python:3.12-slim
            command: [python, -c, "print('done')"]
            args: ["{{$.inputs.parameters['date']}}"]
            env:
              MODE: fast
              TOKEN: {secret: api, key: token}
              LEVEL: {configMap: settings, key: level}
            resources: {cpu: 500m, memory: 1Gi, gpu: 1}
"""


def build(tmp_path: Path, spec: str = SPEC, stack: str | None = None) -> list[Resource]:
    project, st = T.make_project(tmp_path, spec, stack=stack)
    return T.rendered(project, st, "pipelines")


def parts(resources: list[Resource]) -> tuple[Resource, Resource, Resource | None]:
    (pipeline,) = T.by_kind(resources, "Pipeline")
    (version,) = T.by_kind(resources, "PipelineVersion")
    crons = T.by_kind(resources, "CronJob")
    return pipeline, version, crons[0] if crons else None


def parse_ir(ir: dict[str, Any]) -> Any:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    return json_format.ParseDict(ir, pipeline_spec_pb2.PipelineSpec())


def keys_of(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (list items share their list's path)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(prefix + k)
            out |= keys_of(v, prefix + k + ".")
    elif isinstance(value, list):
        for v in value:
            out |= keys_of(v, prefix)
    return out


def test_pipeline_and_version_are_valid(tmp_path: Path) -> None:
    pipeline, version, _ = parts(build(tmp_path))
    assert T.crd_errors(pipeline.body, KFP_CRDS / "pipelines.kubeflow.org_pipelines.yaml") == []
    assert T.crd_errors(version.body, KFP_CRDS / "pipelines.kubeflow.org_pipelineversions.yaml") == []
    spec = version.body["spec"]
    assert spec["pipelineName"] == pipeline.name == "nightly"
    assert DNS_SUBDOMAIN.match(version.name) and VERSION_NAME.match(spec["versionName"])
    assert version.name == f"nightly-{spec['versionName']}"
    ir = spec["pipelineSpec"]
    parse_ir(ir)  # raises on any field KFP does not know
    assert PIPELINE_INFO_NAME.match(ir["pipelineInfo"]["name"])
    assert (ir["schemaVersion"], ir["sdkVersion"]) == ("2.1.0", "kfp-2.17.3")
    assert ir["root"]["inputDefinitions"]["parameters"] == {
        "date": {"parameterType": "STRING", "defaultValue": "2026-01-01", "isOptional": True},
        "rows": {"parameterType": "NUMBER_INTEGER", "defaultValue": 100.0, "isOptional": True},
        "dry": {"parameterType": "BOOLEAN", "defaultValue": False, "isOptional": True}}
    tasks = ir["root"]["dag"]["tasks"]
    assert sorted(tasks) == ["report", "train", "tune"]
    assert sorted(tasks["report"]["dependentTasks"]) == ["train", "tune"]
    assert "dependentTasks" not in tasks["train"]
    assert all(t["cachingOptions"] == {} for t in tasks.values())  # never cached: steps act on the cluster


def test_platform_spec_uses_upstream_fields(tmp_path: Path) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    _, version, _ = parts(build(tmp_path))
    platform = version.body["spec"]["platformSpec"]
    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors == {"exec-report": {
        "secretAsEnv": [{"secretNameParameter": {"runtimeValue": {"constant": "api"}},
                         "keyToEnv": [{"secretKey": "token", "envVar": "TOKEN"}]}],
        "configMapAsEnv": [{"configMapNameParameter": {"runtimeValue": {"constant": "settings"}},
                            "keyToEnv": [{"configMapKey": "level", "envVar": "LEVEL"}]}]}}
    # the name parameters are the IR's own TaskInputsSpec.InputParameterSpec (parsed strictly); every other
    # field name is one KFP's compiler writes (the upstream compiled example with a platform spec)
    ours = copy.deepcopy(executors["exec-report"])
    for key, param in (("secretAsEnv", "secretNameParameter"), ("configMapAsEnv", "configMapNameParameter")):
        for item in ours[key]:
            json_format.ParseDict(item[param], pipeline_spec_pb2.TaskInputsSpec.InputParameterSpec())
            item[param] = {"componentInputParameter": "x"}
    upstream = list(yaml.safe_load_all(PLATFORM_EXAMPLE.read_text()))[1]
    known = keys_of(upstream["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-log-message"])
    assert keys_of(ours) - known == set()


def test_container_step(tmp_path: Path) -> None:
    _, version, _ = parts(build(tmp_path))
    ir = version.body["spec"]["pipelineSpec"]
    c = ir["deploymentSpec"]["executors"]["exec-report"]["container"]
    assert c["image"] == "python:3.12-slim"
    assert c["command"] == ["python", "-c", "print('done')"]
    assert c["args"] == ["{{$.inputs.parameters['date']}}"]
    assert c["env"] == [{"name": "MODE", "value": "fast"}]  # references go through the platform spec
    assert c["resources"] == {"resourceCpuRequest": "500m", "resourceCpuLimit": "500m",
                              "resourceMemoryRequest": "1Gi", "resourceMemoryLimit": "1Gi",
                              "accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "1"}}
    comp = ir["components"]["comp-report"]
    assert comp["executorLabel"] == "exec-report"
    # pipeline parameters flow in by name; the step's own params are constants that win over them
    assert comp["inputDefinitions"]["parameters"] == {"date": {"parameterType": "STRING"},
                                                      "dry": {"parameterType": "BOOLEAN"},
                                                      "rows": {"parameterType": "NUMBER_INTEGER"}}
    inputs = ir["root"]["dag"]["tasks"]["report"]["inputs"]["parameters"]
    assert inputs["date"] == {"componentInputParameter": "date"}
    assert inputs["rows"] == {"runtimeValue": {"constant": 5.0}}


def manifest_of(version: Resource, step: str) -> dict[str, Any]:
    task = version.body["spec"]["pipelineSpec"]["root"]["dag"]["tasks"][step]
    return dict(json.loads(task["inputs"]["parameters"]["manifest"]["runtimeValue"]["constant"]))


def test_run_steps_carry_the_entries_own_bodies(tmp_path: Path) -> None:
    resources = build(tmp_path)
    _, version, _ = parts(resources)
    project, st = T.make_project(tmp_path, SPEC)
    (job,) = T.rendered(project, st, "training")
    (exp,) = T.rendered(project, st, "tuning")

    train = manifest_of(version, "train")
    assert train["metadata"]["generateName"] == "mnist-" and "name" not in train["metadata"]
    assert train["metadata"]["labels"]["kfconf.dev/pipeline"] == "nightly"
    # params override the training args; everything else is the training renderer's TrainJob
    assert train["spec"]["trainer"]["args"] == ["--lr", "0.01", "--epochs", "1"]
    expected = copy.deepcopy(job.body["spec"])
    expected["trainer"]["args"] = train["spec"]["trainer"]["args"]
    assert train["spec"] == expected
    assert T.crd_errors({**train, "metadata": {"name": "mnist-abcde"}},
                        T.TRAINER_CRDS["v2.3.0"] / "trainer.kubeflow.org_trainjobs.yaml") == []

    tune = manifest_of(version, "tune")
    assert tune["spec"] == exp.body["spec"]
    assert len(tune["metadata"]["generateName"]) + 5 <= 40  # Katib's name limit holds for the generated name

    ex = version.body["spec"]["pipelineSpec"]["deploymentSpec"]["executors"]
    image = st.images["pipeline-driver"]
    assert ex["exec-train"]["container"]["image"] == image
    assert ex["exec-train"]["container"]["args"][:6] == [
        "create", "/apis/trainer.kubeflow.org/v1alpha1/namespaces/team-a/trainjobs", "conditions", "Complete",
        "Failed", "1200"]
    assert ex["exec-tune"]["container"]["args"][:6] == [
        "create", "/apis/kubeflow.org/v1beta1/namespaces/team-a/experiments", "conditions", "Succeeded", "Failed",
        "0"]


def test_version_name_follows_the_content(tmp_path: Path) -> None:
    _, v1, _ = parts(build(tmp_path))
    _, v1_again, _ = parts(build(tmp_path))
    _, v2, _ = parts(build(tmp_path, SPEC.replace("print('done')", "print('finished')")))
    assert v1.name == v1_again.name and v1.body == v1_again.body
    assert v2.name != v1.name  # PipelineVersion.spec is immutable: a change is a new version


def test_kfp_2_16_has_no_version_name(tmp_path: Path) -> None:
    # Trainer 2.1 has no activeDeadlineSeconds (refused there, see test_training), so no timeout here
    _, version, _ = parts(build(tmp_path, SPEC.replace("      timeoutSeconds: 600\n", ""), stack="kubeflow-26.03"))
    assert "versionName" not in version.body["spec"]
    assert version.body["spec"]["pipelineSpec"]["sdkVersion"] == "kfp-2.16.0"
    assert T.crd_errors(version.body, KFP_CRDS / "pipelines.kubeflow.org_pipelineversions.yaml") == []


def test_legacy_run_step_waits_for_a_pytorchjob(tmp_path: Path) -> None:
    spec = SPEC.split("  tuning:")[0] + "  pipelines:\n    - name: p\n      steps: [{name: t, run: training/mnist}]\n"
    _, version, _ = parts(build(tmp_path, spec, stack="kubeflow-legacy"))
    assert manifest_of(version, "t")["kind"] == "PyTorchJob"
    args = version.body["spec"]["pipelineSpec"]["deploymentSpec"]["executors"]["exec-t"]["container"]["args"]
    assert args[1:5] == ["/apis/kubeflow.org/v1/namespaces/team-a/pytorchjobs", "conditions", "Succeeded", "Failed"]


def test_schedule_is_a_valid_cronjob(tmp_path: Path) -> None:
    import kubernetes_validate

    _, version, cron = parts(build(tmp_path))
    assert cron is not None
    kubernetes_validate.validate(cron.body, "1.33", strict=True)
    assert cron.body["spec"]["schedule"] == "0 3 * * *"
    container = cron.body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "run" and container["args"][3:] == ["nightly", version.name, "demo"]
    vol = cron.body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]
    assert vol["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "pipelines.kubeflow.org"


def test_every_schedule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FindingsError) as e:
        build(tmp_path, SPEC.replace('schedule: "0 3 * * *"', 'schedule: "@every 5m"'))
    (d,) = e.value.diagnostics
    assert d.code == "KF305" and d.path == ("spec", "pipelines", 0, "schedule") and d.loc.line == 21


def test_steps_of_other_components_use_their_renderers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """data/registry/serving steps run what those components render (stubbed here): a scheduled Spark job
    runs once as the SparkApplication of its template; an InferenceService is applied, not created."""
    from kfconf.components.base import Component

    def fake(self: Component, ctx: Any) -> list[Resource]:
        bodies = {
            "data": {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
                     "metadata": {"name": "features", "namespace": "team-a"},
                     "spec": {"schedule": "0 2 * * *", "template": {"type": "Python", "mode": "cluster"}}},
            "serving": {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                        "metadata": {"name": "churn", "namespace": "team-a"}, "spec": {"predictor": {}}},
        }
        return [Resource({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, entry="other"),
                Resource(copy.deepcopy(bodies[self.key]), entry=ctx.entries()[0].name)]

    real = Component.run_render

    def run_render(self: Component, ctx: Any) -> Any:
        return fake(self, ctx) if self.key in ("data", "serving") else real(self, ctx)

    monkeypatch.setattr(Component, "run_render", run_render)
    spec = """\
    apiVersion: kfconf.dev/v1alpha1
    kind: MLProject
    metadata: {name: demo}
    spec:
      profile: {namespace: team-a, owner: a@example.com}
      data: [{name: features, file: job.py}]
      serving: [{name: churn, model: "s3://b/m", format: sklearn}]
      pipelines:
        - name: p
          steps:
            - {name: prep, run: data/features}
            - {name: deploy, run: serving/churn, after: [prep]}
    """
    (tmp_path / "job.py").write_text("print(1)\n")
    project, st = T.make_project(tmp_path, spec)
    _, version, _ = parts(T.rendered(project, st, "pipelines"))
    prep = manifest_of(version, "prep")
    assert (prep["kind"], prep["spec"], prep["metadata"]["generateName"]) == (
        "SparkApplication", {"type": "Python", "mode": "cluster"}, "features-")
    deploy = manifest_of(version, "deploy")
    assert deploy["metadata"]["name"] == "churn" and "generateName" not in deploy["metadata"]
    args = version.body["spec"]["pipelineSpec"]["deploymentSpec"]["executors"]["exec-deploy"]["container"]["args"]
    assert args[:6] == ["apply", "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices",
                        "conditions", "Ready", "", "1800"]
    args = version.body["spec"]["pipelineSpec"]["deploymentSpec"]["executors"]["exec-prep"]["container"]["args"]
    assert args[2:5] == ["status.applicationState.state", "COMPLETED", "FAILED,SUBMISSION_FAILED"]


def test_params_on_a_non_training_step_are_refused(tmp_path: Path) -> None:
    spec = SPEC.replace("after: [train]}", "after: [train], params: {x: 1}}")
    with pytest.raises(FindingsError) as e:
        build(tmp_path, spec)
    (d,) = e.value.diagnostics
    assert d.code == "KF205" and d.path == ("spec", "pipelines", 0, "steps", 1, "params")


# ---------------------------------------------------------------- the step program, run for real

class FakeApi(BaseHTTPRequestHandler):
    """Just enough of the Kubernetes and KFP REST APIs: objects become Complete after two reads."""

    objects: ClassVar[dict[str, dict[str, Any]]] = {}
    requests: ClassVar[list[tuple[str, str, Any]]] = []
    outcome = "Complete"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_POST(self) -> None:
        body = self._body()
        self.requests.append(("POST", self.path, copy.deepcopy(body)))
        if self.path.startswith("/apis/v2beta1/experiments"):
            return self._send(200, {"experiment_id": "e1"})
        if self.path.startswith("/apis/v2beta1/runs"):
            return self._send(200, {"run_id": "r1"})
        name = body["metadata"]["generateName"] + "x1y2z"
        body["metadata"]["name"] = name
        self.objects[f"{self.path}/{name}"] = {"obj": body, "reads": 0}
        self._send(201, body)

    def do_PATCH(self) -> None:
        body = self._body()
        self.requests.append(("PATCH", self.path, self.headers.get("Content-Type")))
        self.objects[self.path.split("?")[0]] = {"obj": body, "reads": 0}
        self._send(200, body)

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, None))
        if self.path.startswith("/apis/v2beta1/pipelines/names/"):
            return self._send(200, {"pipeline_id": "p1"})
        if self.path.startswith("/apis/v2beta1/pipelines/p1/versions"):
            return self._send(200, {"pipeline_versions": [{"name": "other", "pipeline_version_id": "v0"},
                                                          {"name": "nightly-abc", "pipeline_version_id": "v1"}]})
        if self.path.startswith("/apis/v2beta1/experiments"):
            return self._send(200, {})
        entry = self.objects[self.path]
        entry["reads"] += 1
        obj = copy.deepcopy(entry["obj"])
        if entry["reads"] >= 2:
            obj["status"] = {"conditions": [{"type": "Created", "status": "True"},
                                            {"type": self.outcome, "status": "True"}]}
        self._send(200, obj)


@pytest.fixture
def fake_api() -> Iterator[str]:
    FakeApi.objects, FakeApi.requests, FakeApi.outcome = {}, [], "Complete"
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_executor(version: Resource, step: str, url: str) -> subprocess.CompletedProcess[str]:
    """Run the step's container command exactly as KFP would, with the manifest placeholder resolved."""
    ir = version.body["spec"]["pipelineSpec"]
    c = ir["deploymentSpec"]["executors"][f"exec-{step}"]["container"]
    manifest = ir["root"]["dag"]["tasks"][step]["inputs"]["parameters"]["manifest"]["runtimeValue"]["constant"]
    argv = [a.replace("{{$.inputs.parameters['manifest']}}", manifest) for a in c["command"] + c["args"]]
    assert argv[0] == "python3"
    env = {**os.environ, "KFCONF_KUBE_URL": url, "KFCONF_KUBE_TOKEN": "t", "KFCONF_POLL_SECONDS": "0.05"}
    return subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, text=True, timeout=60)


def test_step_program_creates_and_waits(tmp_path: Path, fake_api: str) -> None:
    _, version, _ = parts(build(tmp_path))
    done = run_executor(version, "train", fake_api)
    assert done.returncode == 0, done.stdout + done.stderr
    method, path, body = FakeApi.requests[0]
    assert (method, path) == ("POST", "/apis/trainer.kubeflow.org/v1alpha1/namespaces/team-a/trainjobs")
    assert body == manifest_of(version, "train")
    assert "created TrainJob mnist-x1y2z" in done.stdout and "Complete" in done.stdout

    FakeApi.outcome = "Failed"
    failed = run_executor(version, "train", fake_api)
    assert failed.returncode == 1 and "failed (Failed)" in failed.stdout


def test_step_program_starts_a_run(fake_api: str) -> None:
    from kfconf.components.pipelines.render import driver_source

    env = {**os.environ, "KFCONF_KFP_TOKEN": "t"}
    done = subprocess.run([sys.executable, "-c", driver_source(), "run", fake_api, "team-a", "nightly",
                           "nightly-abc", "demo"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    posts = [(p, b) for m, p, b in FakeApi.requests if m == "POST"]
    assert posts[0] == ("/apis/v2beta1/experiments", {"display_name": "demo", "namespace": "team-a"})
    path, run = posts[1]
    assert path == "/apis/v2beta1/runs"
    assert run["experiment_id"] == "e1"
    assert run["pipeline_version_reference"] == {"pipeline_id": "p1", "pipeline_version_id": "v1"}


def test_health_rules() -> None:
    from kfconf.components.pipelines.health import HEALTH

    assert HEALTH["Pipeline"]({"spec": {}}).state == "Healthy"
    assert HEALTH["PipelineVersion"]({"spec": {}}).state == "Healthy"
    assert HEALTH["CronJob"]({"spec": {"suspend": True}}).state == "Suspended"
    assert HEALTH["CronJob"]({"spec": {}, "status": {"lastScheduleTime": "2026-01-01T03:00:00Z"}}).message == \
        "last run started 2026-01-01T03:00:00Z"
