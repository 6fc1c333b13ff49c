"""Registry renderer and the registration script.

The Model Registry server cannot run here, so the script is exercised against a small fake that
implements the endpoints it calls as `openapi/model-registry.yaml` (v1alpha3) describes them. The fake
checks every request against that OpenAPI document with jsonschema — the path and method exist, the query
parameters are declared, the body matches the operation's request schema (discriminators enforced, unknown
fields rejected) — and every response it sends against the response schema, so the fake cannot drift from
the API it stands in for. It is a mock: behaviour the document does not describe (e.g. the real server's
name-uniqueness rules) is modelled, not verified.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Iterator
from contextlib import redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.components import BY_KEY
from kfconf.components.registry import render as reg_render
from kfconf.components.registry.uris import artifact_location, latest_uri, model_uri
from kfconf.core.errors import FindingsError
from kfconf.core.resource import Resource as KResource
from kfconf.testing.crds import core_errors

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference"
OPENAPI = REFERENCE / "openapi" / "model-registry.yaml"
API = "/api/model_registry/v1alpha3"


# ------------------------------------------------------------------ the OpenAPI document as a validator

def _discriminators(node: Any) -> Any:
    """OpenAPI `oneOf` + `discriminator.mapping` → JSON Schema that picks the mapped schema by the
    property's value (jsonschema ignores `discriminator`; a plain oneOf would accept a wrong tag)."""
    if isinstance(node, list):
        return [_discriminators(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _discriminators(v) for k, v in node.items()}
    disc = out.get("discriminator")
    if disc and "mapping" in disc and "oneOf" in out:
        prop, mapping = disc["propertyName"], disc["mapping"]
        del out["oneOf"]
        out["required"] = sorted({*out.get("required", []), prop})
        out["properties"] = {**out.get("properties", {}), prop: {"enum": sorted(mapping)}}
        out["allOf"] = [*out.get("allOf", []),
                        *({"if": {"properties": {prop: {"const": v}}}, "then": {"$ref": ref}}
                          for v, ref in sorted(mapping.items()))]
    return out


class OpenAPI:
    def __init__(self, doc: dict[str, Any]) -> None:
        doc = _discriminators(copy.deepcopy(doc))
        for name, schema in doc["components"]["schemas"].items():
            if name.startswith("Metadata") and name.endswith("Value") and name != "MetadataValue":
                schema["unevaluatedProperties"] = False  # custom property values are closed objects
        self.doc = doc
        self.registry = Registry().with_resource("urn:mr", Resource.from_contents(doc, DRAFT202012))
        self.routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", p) + "$"), p) for p in doc["paths"]]

    def route(self, path: str) -> str | None:
        for rx, template in self.routes:
            if rx.match(path):
                return template
        return None

    def operation(self, template: str, method: str) -> dict[str, Any] | None:
        op: dict[str, Any] | None = self.doc["paths"][template].get(method.lower())
        return op

    def _param(self, p: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in p:
            return self.doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        return p

    def query_params(self, template: str, method: str) -> set[str]:
        item = self.doc["paths"][template]
        params = [*item.get("parameters", []), *(item[method.lower()].get("parameters", []))]
        return {self._param(p)["name"] for p in params if self._param(p)["in"] == "query"}

    def validator(self, ref: str, closed: bool) -> Draft202012Validator:
        schema: dict[str, Any] = {"$ref": "urn:mr" + ref}
        if closed:
            schema["unevaluatedProperties"] = False
        return Draft202012Validator(schema, registry=self.registry)

    def request_errors(self, template: str, method: str, body: Any) -> list[str]:
        op = self.operation(template, method)
        assert op is not None
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in self.validator(ref, closed=True).iter_errors(body)]

    def response_errors(self, template: str, method: str, status: int, body: Any) -> list[str]:
        op = self.operation(template, method)
        assert op is not None
        response = op["responses"].get(str(status))
        if response is None:
            return [f"{method} {template} declares no {status} response"]
        ref = response["$ref"].rsplit("/", 1)[1]
        content = self.doc["components"]["responses"][ref].get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            return []
        return [f"response {'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in self.validator(schema["$ref"], closed=False).iter_errors(body)]


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI(yaml.safe_load(OPENAPI.read_text(encoding="utf-8")))


# ------------------------------------------------------------------ the fake Model Registry

class FakeRegistry:
    """RegisteredModels, ModelVersions and ModelArtifacts in memory, behind the v1alpha3 REST paths."""

    def __init__(self, api: OpenAPI) -> None:
        self.api = api
        self.models: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.links: dict[str, str] = {}  # artifact id → version id
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.problems: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.fail_next: list[int] = []  # statuses to answer before serving normally
        self._next = 0
        self.lock = threading.Lock()

    def new_id(self) -> str:
        self._next += 1
        return str(self._next)

    @staticmethod
    def stamp(obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("createTimeSinceEpoch", "1700000000000")
        obj["lastUpdateTimeSinceEpoch"] = "1700000000001"
        return obj

    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               headers: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path, query, body))
            self.headers.append(headers)
            if self.fail_next:
                return self.fail_next.pop(0), {"code": "unavailable", "message": "try again"}
            if not path.startswith(API):
                self.problems.append(f"{method} {path}: outside the API")
                return 404, {"code": "not-found", "message": path}
            sub = path[len(API):]
            template = self.api.route(path)
            if template is None or self.api.operation(template, method) is None:
                self.problems.append(f"{method} {path}: not in the OpenAPI document")
                return 405, {"code": "method-not-allowed", "message": path}
            unknown = set(query) - self.api.query_params(template, method)
            if unknown:
                self.problems.append(f"{method} {path}: undeclared query parameters {sorted(unknown)}")
            if body is not None:
                self.problems += [f"{method} {template}: {e}" for e in
                                  self.api.request_errors(template, method, body)]
            status, answer = self.dispatch(method, sub, query, body)
            self.problems += [f"{method} {template}: {e}" for e in
                              self.api.response_errors(template, method, status, answer)]
            return status, answer

    def _missing(self, what: str) -> tuple[int, Any]:
        return 404, {"code": "not-found", "message": f"no {what} found"}

    def dispatch(self, method: str, sub: str, q: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "GET" and sub == "/registered_model":
            found = [m for m in self.models.values() if m["name"] == q.get("name")]
            return (200, found[0]) if found else self._missing("registered model")
        if method == "POST" and sub == "/registered_models":
            if any(m["name"] == body["name"] for m in self.models.values()):
                return 409, {"code": "conflict", "message": "name exists"}
            obj = self.stamp({**body, "id": self.new_id(), "state": body.get("state", "LIVE")})
            self.models[obj["id"]] = obj
            return 201, obj
        if method == "GET" and sub == "/model_version":
            found = [v for v in self.versions.values()
                     if v["name"] == q.get("name") and v["registeredModelId"] == q.get("parentResourceId")]
            return (200, found[0]) if found else self._missing("model version")
        if method == "POST" and sub == "/model_versions":
            if body["registeredModelId"] not in self.models:
                return 404, {"code": "not-found", "message": "no registered model"}
            obj = self.stamp({**body, "id": self.new_id(), "state": body.get("state", "LIVE")})
            self.versions[obj["id"]] = obj
            return 201, obj
        if method == "GET" and sub == "/model_artifact":
            found = [a for i, a in self.artifacts.items()
                     if a.get("name") == q.get("name") and self.links.get(i) == q.get("parentResourceId")]
            return (200, found[0]) if found else self._missing("model artifact")
        m = re.fullmatch(r"/model_versions/([^/]+)/artifacts", sub)
        if method == "POST" and m:
            if m.group(1) not in self.versions:
                return 404, {"code": "not-found", "message": "no model version"}
            obj = self.stamp({**body, "id": self.new_id()})
            self.artifacts[obj["id"]] = obj
            self.links[obj["id"]] = m.group(1)
            return 201, obj
        for prefix, store in (("/registered_models/", self.models), ("/model_versions/", self.versions),
                              ("/model_artifacts/", self.artifacts)):
            if method == "PATCH" and sub.startswith(prefix) and "/" not in sub[len(prefix):]:
                target = store.get(sub[len(prefix):])
                if target is None:
                    return self._missing(prefix.strip("/"))
                target.update(body)
                return 200, self.stamp(target)
        self.problems.append(f"{method} {sub}: the fake does not implement it")
        return 501, {"code": "not-implemented", "message": sub}

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _, _ in self.requests if m != "GET"]


@pytest.fixture
def registry(openapi: OpenAPI) -> Iterator[tuple[FakeRegistry, str]]:
    fake = FakeRegistry(openapi)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = self.path.split("?", 1)
            from urllib.parse import parse_qsl

            query = dict(parse_qsl(url[1])) if len(url) > 1 else {}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = fake.handle(self.command, url[0], query, body, dict(self.headers))
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}{API}"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ projects

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: owner@example.com}
spec:
  profile: {namespace: team-a}
  training:
    - {name: trainer, image: ghcr.io/acme/t:1, command: [python, train.py], args: {lr: 0.01}}
    - {name: saved, image: ghcr.io/acme/t:1, command: [python, train.py], output: "s3://acme/models/saved"}
  tuning:
    - name: hpo
      trial: training/trainer
      objective: {metric: auc, goal: maximize}
      algorithm: {name: random}
      parameters: {lr: {type: double, min: 0.001, max: 0.1}}
  registry:
    - name: churn
      from: tuning/hpo
      version: v3
      format: {name: pytorch, version: "2"}
      description: Best trial.
      author: ann@example.com
      metadata: {dataset: features, rows: 2000, auc: 0.91, calibrated: true}
    - {name: saved-model, from: training/saved, format: sklearn}
    - {name: plain, from: training/trainer, version: "2026.1", format: onnx}
    - {name: external, from: "hf://acme/tiny-model", format: huggingface}
"""


def project(tmp_path: Path, spec: str = SPEC, stack: str | None = None, files: dict[str, str] | None = None
            ) -> tuple[Any, Any]:
    (tmp_path / "ml-project.yaml").write_text(spec)
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    p, st, _ = load_project(tmp_path, None, stack)
    return p, st


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def subdir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def render(p: Any, st: Any) -> list[KResource]:
    return list(BY_KEY["registry"].run_render(RenderContext(p, st, "registry")))


def job_of(resources: list[KResource], model: str) -> KResource:
    return next(r for r in resources if r.kind == "Job" and r.body["metadata"]["labels"][reg_render.MODEL_LABEL]
                == model)


def env_of(job: KResource) -> dict[str, str]:
    return {e["name"]: e["value"] for e in job.body["spec"]["template"]["spec"]["containers"][0]["env"]}


def payload(job: KResource) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(env_of(job)["KFCONF_REGISTRATION"])
    return value


def load_script(text: str) -> types.ModuleType:
    """The script exactly as the ConfigMap ships it, as a module (to run its main() in this process)."""
    mod = types.ModuleType("kfconf_register_under_test")
    exec(compile(text, "register.py", "exec"), mod.__dict__)
    return mod


def run_script(mod: types.ModuleType, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    for key in ("MODEL_REGISTRY_URL", "KFCONF_REGISTRATION", "MODEL_REGISTRY_TOKEN_FILE",
                "KFCONF_STOP_ISTIO_SIDECAR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(mod.time, "sleep", lambda s: None)
    out = io.StringIO()
    with redirect_stdout(out):
        code = mod.main()
    return code, out.getvalue()


# ------------------------------------------------------------------ rendering

def test_payload_is_the_rest_api_fields(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    resources = render(p, st)
    want = payload(job_of(resources, "churn"))
    assert want == {
        "registeredModel": {"name": "churn", "description": "Best trial.", "owner": "owner@example.com",
                            "customProperties": {"kfconf.dev/project": {"metadataType": "MetadataStringValue",
                                                                        "string_value": "demo"}}},
        "modelVersion": {"name": "v3", "description": "Best trial.", "author": "ann@example.com",
                         "customProperties": {
                             "kfconf.dev/from": {"metadataType": "MetadataStringValue", "string_value": "tuning/hpo"},
                             "dataset": {"metadataType": "MetadataStringValue", "string_value": "features"},
                             "rows": {"metadataType": "MetadataIntValue", "int_value": "2000"},
                             "auc": {"metadataType": "MetadataDoubleValue", "double_value": 0.91},
                             "calibrated": {"metadataType": "MetadataBoolValue", "bool_value": True}}},
        "modelArtifact": {"name": "churn", "uri": "s3://mlpipeline/models/team-a/demo/trainer",
                          "modelFormatName": "pytorch", "modelFormatVersion": "2"},
    }
    # the author falls back to the owner; the version defaults to v1
    saved = payload(job_of(resources, "saved-model"))
    assert saved["modelVersion"]["author"] == "owner@example.com"
    assert saved["modelVersion"]["name"] == "v1"


def test_artifact_locations(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    assert artifact_location(p, st, "training/saved").uri == "s3://acme/models/saved"
    assert artifact_location(p, st, "training/saved").spec_path == ("spec", "training", 1, "output")
    assert artifact_location(p, st, "training/trainer").uri == "s3://mlpipeline/models/team-a/demo/trainer"
    assert artifact_location(p, st, "training/trainer").spec_path is None
    assert artifact_location(p, st, "tuning/hpo") == artifact_location(p, st, "training/trainer")
    assert artifact_location(p, st, "gs://b/m").uri == "gs://b/m"
    assert payload(job_of(render(p, st), "external"))["modelArtifact"]["uri"] == "hf://acme/tiny-model"
    assert model_uri(p, "registry/churn") == "model-registry://churn/v3"
    assert model_uri(p, "registry/plain") == "model-registry://plain/2026.1"
    assert latest_uri(p, "registry/churn") == "model-registry://churn"
    with pytest.raises(KeyError):
        model_uri(p, "training/trainer")


def test_artifact_root_comes_from_the_stack(tmp_path: Path) -> None:
    stack = """\
        apiVersion: kfconf.dev/v1alpha1
        kind: Stack
        metadata: {name: acme}
        extends: kubeflow-latest
        components:
          modelRegistry: {artifactRoot: "gs://acme-models/", url: "http://mr.acme:9090"}
        """
    p, st = project(tmp_path, SPEC.replace("  profile:", "  stack: ./stacks/acme.yaml\n  profile:"),
                    files={"stacks/acme.yaml": stack})
    job = job_of(render(p, st), "plain")
    assert payload(job)["modelArtifact"]["uri"] == "gs://acme-models/team-a/demo/trainer"
    assert env_of(job)["MODEL_REGISTRY_URL"] == "http://mr.acme:9090/api/model_registry/v1alpha3"
    why = job.explain["spec.template.spec.containers[0].env.KFCONF_REGISTRATION.modelArtifact.uri"]
    line = line_of(SPEC, "{name: plain, from: training/trainer") + 1  # the stack line added above it
    assert why == f"ml-project.yaml:{line} + stack acme: components.modelRegistry.artifactRoot"


def test_job_and_configmap_are_valid_core_objects(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    resources = render(p, st)
    assert [r.kind for r in resources] == ["ConfigMap", "Job", "Job", "Job", "Job"]
    for r in resources:
        assert core_errors(r.body) == [], r.id
    cm = resources[0]
    assert cm.body["data"] == {"register.py": reg_render.script_text()}
    job = job_of(resources, "churn")
    pod = job.body["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "script", "configMap": {"name": cm.name}}]
    assert pod["containers"][0]["command"] == ["python", "/opt/kfconf/register.py"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["image"] == st.images["registrar"]


def test_job_names_follow_their_spec(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    names = {r.name for r in render(p, st) if r.kind == "Job"}
    assert all(len(n) <= 63 and re.fullmatch(r"mr-[a-z0-9-]+-[0-9a-f]{8}", n) for n in names), names
    again = {r.name for r in render(*project(subdir(tmp_path, "again"))) if r.kind == "Job"}
    assert again == names  # deterministic
    changed = project(subdir(tmp_path, "changed"), SPEC.replace("description: Best trial.",
                                                                "description: Better trial."))
    changed_names = {r.name for r in render(*changed) if r.kind == "Job"}
    assert len(changed_names & names) == 3  # only churn's Job got a new name
    assert job_of(render(*changed), "churn").name.startswith("mr-churn-v3-")


def test_istio_and_token_settings(tmp_path: Path) -> None:
    stack = """\
        apiVersion: kfconf.dev/v1alpha1
        kind: Stack
        metadata: {name: tokens}
        extends: kubeflow-latest
        components:
          modelRegistry: {auth: serviceAccountToken, stopIstioSidecar: false}
        """
    p, st = project(tmp_path, SPEC.replace("  profile:", "  stack: ./stacks/t.yaml\n  profile:"),
                    files={"stacks/t.yaml": stack})
    job = job_of(render(p, st), "churn")
    env = env_of(job)
    assert "KFCONF_STOP_ISTIO_SIDECAR" not in env
    assert env["MODEL_REGISTRY_TOKEN_FILE"] == "/var/run/secrets/kfconf/token"
    assert core_errors(job.body) == []
    p2, st2 = project(subdir(tmp_path, "plain"))
    env2 = env_of(job_of(render(p2, st2), "churn"))
    assert env2["KFCONF_STOP_ISTIO_SIDECAR"] == "true" and "MODEL_REGISTRY_TOKEN_FILE" not in env2


def test_checks_reject_a_version_with_a_slash_and_a_relative_output(tmp_path: Path) -> None:
    bad = SPEC.replace("version: v3", "version: v3/rc1").replace('output: "s3://acme/models/saved"',
                                                                  "output: models/saved")
    with pytest.raises(FindingsError) as e:
        project(tmp_path, bad)
    codes = {(d.code, d.path) for d in e.value.diagnostics}
    assert ("KF108", ("spec", "registry", 0, "version")) in codes
    assert ("KF108", ("spec", "training", 1, "output")) in codes


# ------------------------------------------------------------------ the script against the fake registry

def test_script_uses_only_the_standard_library() -> None:
    tree = ast.parse(reg_render.script_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules - {"__future__"} <= set(sys.stdlib_module_names), modules


def test_registers_then_changes_nothing(tmp_path: Path, registry: tuple[FakeRegistry, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = registry
    p, st = project(tmp_path)
    resources = render(p, st)
    mod = load_script(resources[0].body["data"]["register.py"])
    for model in ("churn", "saved-model", "plain", "external"):
        env = {**env_of(job_of(resources, model)), "MODEL_REGISTRY_URL": url}
        env.pop("KFCONF_STOP_ISTIO_SIDECAR")
        code, out = run_script(mod, env, monkeypatch)
        assert code == 0, out
        assert "created" in out
    assert fake.problems == []
    assert len(fake.models) == len(fake.versions) == len(fake.artifacts) == 4
    churn = next(m for m in fake.models.values() if m["name"] == "churn")
    version = next(v for v in fake.versions.values() if v["registeredModelId"] == churn["id"])
    artifact = next(a for i, a in fake.artifacts.items() if fake.links[i] == version["id"])
    assert (version["name"], artifact["uri"], artifact["modelFormatVersion"]) == \
        ("v3", "s3://mlpipeline/models/team-a/demo/trainer", "2")
    assert artifact["artifactType"] == "model-artifact"

    writes = len(fake.writes())
    env = {**env_of(job_of(resources, "churn")), "MODEL_REGISTRY_URL": url}
    code, out = run_script(mod, env, monkeypatch)
    assert code == 0 and out.count("unchanged") == 3, out
    assert len(fake.writes()) == writes  # idempotent: a second run only reads
    assert fake.problems == []


def test_changed_spec_is_patched_and_foreign_properties_kept(tmp_path: Path, registry: tuple[FakeRegistry, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = registry
    p, st = project(tmp_path)
    first = render(p, st)
    mod = load_script(first[0].body["data"]["register.py"])
    assert run_script(mod, {**env_of(job_of(first, "churn")), "MODEL_REGISTRY_URL": url}, monkeypatch)[0] == 0
    version = next(iter(fake.versions.values()))
    version["customProperties"]["approved-by"] = {"metadataType": "MetadataStringValue", "string_value": "qa"}

    p2, st2 = project(subdir(tmp_path, "v2"), SPEC.replace("description: Best trial.", "description: Retrained.")
                      .replace('version: "2"', 'version: "2.1"'))
    second = job_of(render(p2, st2), "churn")
    before = len(fake.requests)
    code, out = run_script(mod, {**env_of(second), "MODEL_REGISTRY_URL": url}, monkeypatch)
    assert code == 0, out
    patches = [(path, body) for m, path, _, body in fake.requests[before:] if m == "PATCH"]
    assert [(path, sorted(body)) for path, body in patches] == [
        (f"{API}/registered_models/1", ["description"]),
        (f"{API}/model_versions/2", ["description"]),
        (f"{API}/model_artifacts/3", ["artifactType", "modelFormatVersion"]),
    ]
    assert version["customProperties"]["approved-by"]["string_value"] == "qa"
    assert version["description"] == "Retrained."
    assert fake.problems == []


def test_retries_while_the_registry_is_unavailable(tmp_path: Path, registry: tuple[FakeRegistry, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = registry
    p, st = project(tmp_path)
    resources = render(p, st)
    mod = load_script(resources[0].body["data"]["register.py"])
    fake.fail_next = [503, 502]
    code, out = run_script(mod, {**env_of(job_of(resources, "plain")), "MODEL_REGISTRY_URL": url}, monkeypatch)
    assert code == 0, out
    assert "HTTP 503, retrying" in out and "HTTP 502, retrying" in out
    assert len(fake.models) == 1


def test_fails_clearly(tmp_path: Path, registry: tuple[FakeRegistry, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = registry
    p, st = project(tmp_path)
    resources = render(p, st)
    mod = load_script(resources[0].body["data"]["register.py"])
    env = env_of(job_of(resources, "plain"))
    code, out = run_script(mod, {**env, "MODEL_REGISTRY_URL": "http://127.0.0.1:9/api"}, monkeypatch)
    assert code == 1 and "error:" in out
    code, out = run_script(mod, {"MODEL_REGISTRY_URL": url}, monkeypatch)
    assert code == 2 and "KFCONF_REGISTRATION" in out
    fake.fail_next = [400]
    code, out = run_script(mod, {**env, "MODEL_REGISTRY_URL": url}, monkeypatch)
    assert code == 1 and "HTTP 400" in out


def test_bearer_token_and_a_real_process(tmp_path: Path, registry: tuple[FakeRegistry, str]) -> None:
    """The shipped script as the Job runs it: its own interpreter, only environment variables."""
    fake, url = registry
    p, st = project(tmp_path)
    resources = render(p, st)
    script = tmp_path / "register.py"
    script.write_text(resources[0].body["data"]["register.py"])
    token = tmp_path / "token"
    token.write_text("s3cr3t\n")
    env = {**env_of(job_of(resources, "external")), "MODEL_REGISTRY_URL": url,
           "MODEL_REGISTRY_TOKEN_FILE": str(token), "PATH": os.environ.get("PATH", "")}
    env.pop("KFCONF_STOP_ISTIO_SIDECAR")
    done = subprocess.run([sys.executable, "-I", str(script)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "model external/v1 registered: hf://acme/tiny-model" in done.stdout
    assert {h.get("Authorization") for h in fake.headers} == {"Bearer s3cr3t"}
    assert fake.problems == []


def test_the_fake_rejects_what_the_api_rejects(openapi: OpenAPI) -> None:
    """The fake's checks can fail: a wrong discriminator, an unknown field, an undeclared parameter."""
    fake = FakeRegistry(openapi)
    fake.handle("POST", f"{API}/registered_models",
                {}, {"name": "m", "customProperties": {"k": {"metadataType": "MetadataIntValue",
                                                                "string_value": "x"}}}, {})
    fake.handle("POST", f"{API}/registered_models", {}, {"name": "n", "colour": "red"}, {})
    fake.handle("GET", f"{API}/registered_model", {"name": "m", "limit": "1"}, None, {})
    fake.handle("DELETE", f"{API}/registered_models/1", {}, None, {})
    joined = "\n".join(fake.problems)
    assert "int_value" in joined
    assert "colour" in joined
    assert "undeclared query parameters ['limit']" in joined
    assert "DELETE" in joined


# ------------------------------------------------------------------ health

@pytest.mark.parametrize(("status", "state"), [
    ({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}, "Healthy"),
    ({"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}], "failed": 5},
     "Degraded"),
    ({"active": 1, "failed": 1}, "Progressing"),
])
def test_registration_job_health(status: dict[str, Any], state: str) -> None:
    """Registration Jobs are judged by the core Job rule; this slice declares no rule of its own."""
    from kfconf.components.registry.health import HEALTH
    from kfconf.sync.health import build_registry

    assert HEALTH == {}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "mr-churn-v3-0123abcd",
                                                                  "labels": {reg_render.MODEL_LABEL: "churn"}},
           "status": status}
    assert build_registry().status(job).state == state
