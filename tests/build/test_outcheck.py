"""The output check: strict schemas per stack, CEL rules, webhook rules, diagnostics at the spec line."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfconf.build import schemas as schemas_mod
from kfconf.build.outcheck import check_resources, schema_errors
from kfconf.build.schemas import SchemaSet
from kfconf.core.errors import Diagnostic, Severity
from kfconf.core.resource import Resource
from kfconf.core.source import Loc
from kfconf.spec.stacks import load_stack

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"
ORIGIN = Loc("ml-project.yaml", 27, 7)
LATEST, P2603, LEGACY = (load_stack(s) for s in ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy"))


def trainjob(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": {"name": "churn-model", "namespace": "team-growth"},
            "spec": {"runtimeRef": {"name": "torch-distributed"},
                     "trainer": {"image": "ghcr.io/acme/train:1", "numNodes": 2}, **spec}}


def experiment() -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
            "metadata": {"name": "churn-hpo", "namespace": "team-growth"},
            "spec": {"objective": {"type": "maximize", "objectiveMetricName": "val_auc"},
                     "algorithm": {"algorithmName": "tpe", "algorithmSettings": [{"name": "gamma", "value": "0.25"}]},
                     "parallelTrialCount": 2, "maxTrialCount": 8, "maxFailedTrialCount": 1,
                     "parameters": [{"name": "lr", "parameterType": "double",
                                     "feasibleSpace": {"min": "0.001", "max": "0.1"}}],
                     "trialTemplate": {"primaryContainerName": "node",
                                       "trialParameters": [{"name": "lr", "reference": "lr"}],
                                       "trialSpec": {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                                                     "spec": {"runtimeRef": {"name": "torch-distributed"},
                                                              "trainer": {"image": "x", "numNodes": 1,
                                                                          "args": ["--lr=${trialParameters.lr}"]}}}}}}


def check(body: dict[str, Any], stack: Any = LATEST, **kw: Any) -> list[Diagnostic]:
    return check_resources([Resource(body=body, origin=ORIGIN, **kw)], stack)


def errors(body: dict[str, Any], stack: Any = LATEST) -> list[str]:
    return [d.render() for d in check(body, stack) if d.severity is Severity.ERROR]


def test_a_valid_trainjob_passes_on_both_trainer_releases() -> None:
    assert errors(trainjob()) == []
    assert errors(trainjob(), P2603) == []


def test_unknown_field_is_rejected_at_the_spec_line_with_the_field_path() -> None:
    body = trainjob()
    body["spec"]["trainer"]["resorcesPerNode"] = {}
    [d] = check(body)
    assert (d.code, d.loc) == ("KF401", ORIGIN)
    assert d.message.startswith("TrainJob/team-growth/churn-model: spec.trainer.resorcesPerNode: unknown field")
    assert "did you mean 'resourcesPerNode'" in d.message


def test_the_stack_selects_the_trainer_release() -> None:
    """runtimePatches exists from Trainer 2.2; podTemplateOverrides only before it (the 26.03 platform)."""
    patches = trainjob(runtimePatches=[{"manager": "kfconf.dev/build"}])
    overrides = trainjob(podTemplateOverrides=[{"targetJobs": [{"name": "node"}]}])
    assert errors(patches) == [] and errors(overrides, P2603) == []
    assert any("spec.runtimePatches: unknown field" in e for e in errors(patches, P2603))
    assert any("spec.podTemplateOverrides: unknown field" in e for e in errors(overrides))
    auto = trainjob()
    auto["spec"]["trainer"]["numProcPerNode"] = "auto"
    assert errors(auto, P2603) == []
    assert any("numProcPerNode: expected an integer, got string 'auto'" in e for e in errors(auto))


def test_type_and_required_errors_name_expected_and_found() -> None:
    body = trainjob()
    body["spec"]["trainer"]["numNodes"] = "two"
    del body["spec"]["runtimeRef"]
    found = errors(body)
    assert any("spec.trainer.numNodes: expected an integer, got string 'two'" in e for e in found)
    assert any("spec.runtimeRef: missing required field" in e for e in found)


def test_cel_name_rule_of_the_trainjob_crd() -> None:
    """'1churn' is a valid Kubernetes name (DNS-1123) but not RFC 1035: only the CRD's CEL rule refuses it."""
    body = trainjob()
    body["metadata"]["name"] = "1churn"
    [d] = check(body)
    assert d.code == "KF402" and "RFC 1035" in d.message and "[CEL: self.metadata.name.matches" in d.message
    body["metadata"]["name"] = "a" * 64
    assert any("no more than 63 characters" in e for e in errors(body))


def test_cel_rule_on_a_nested_field_and_list_map_keys() -> None:
    body = trainjob(initializer={"dataset": {"storageUri": "features/"}})
    body["spec"]["trainer"]["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    found = errors(body)
    assert any("spec.initializer.dataset.storageUri: storageUri may be empty, or it must be a valid URI" in e
               for e in found)
    assert any("spec.trainer.env[1]: expected unique entries by name" in e for e in found)


def test_trainer_webhook_rules() -> None:
    body = trainjob()
    body["spec"]["trainer"]["env"] = [{"name": "PET_NNODES", "value": "4"}]
    body["spec"]["runtimeRef"]["name"] = "no-such-runtime"
    found = errors(body)
    assert any("env[0].name: PET_NNODES is set by the Trainer's torch plugin" in e for e in found)
    assert any("runtimeRef.name: expected a ClusterTrainingRuntime of stack kubeflow-latest" in e for e in found)


def test_katib_rules_and_the_trial_template_as_the_object_it_becomes() -> None:
    assert errors(experiment()) == []
    body = experiment()
    body["metadata"]["name"] = "churn-hyperparameter-optimisation-nightly-x"  # 43 > 40
    body["spec"]["algorithm"]["algorithmSettings"][0]["value"] = "2"
    body["spec"]["parameters"][0] = {"name": "lr", "parameterType": "categorical",
                                     "feasibleSpace": {"list": ["1"], "min": "0"}}
    body["spec"]["trialTemplate"]["trialSpec"]["spec"]["trainer"]["nodes"] = 2
    body["spec"]["trialTemplate"]["trialSpec"]["spec"]["trainer"]["command"] = ["${trialParameters.batch}"]
    found = "\n".join(errors(body))
    assert "metadata.name: expected at most 40 characters" in found
    assert "algorithmSettings[0].value: tpe setting gamma: expected a number 0 < gamma < 1" in found
    assert "parameters[0].feasibleSpace.min: expected no min for a categorical parameter" in found
    assert "spec.trialTemplate.trialSpec.spec.trainer.nodes: unknown field" in found
    assert "uses ${trialParameters.batch}, which trialParameters does not declare" in found


def test_katib_values_are_strings_per_its_openapi() -> None:
    body = experiment()
    body["spec"]["parameters"][0]["feasibleSpace"]["min"] = 0.001
    assert any("feasibleSpace.min: expected a string, got number 0.001" in e for e in errors(body))


def test_a_placeholder_where_the_trial_needs_a_number_is_accepted() -> None:
    body = experiment()
    body["spec"]["trialTemplate"]["trialSpec"]["spec"]["trainer"]["numNodes"] = "${trialParameters.lr}"
    assert errors(body) == []


def isvc(**predictor: Any) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "churn", "namespace": "team-growth"},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/churn"},
                                   **predictor}}}


def test_kserve_one_predictor_implementation_and_canary_per_release() -> None:
    assert errors(isvc()) == []
    two = isvc(sklearn={"storageUri": "s3://m/churn"})
    assert any("spec.predictor: expected exactly one predictor implementation" in e and "got model, sklearn" in e
               for e in errors(two))
    canary = isvc()
    canary["spec"]["canary"] = [{"trafficPercent": 10, "predictor": {
        "name": "next", "model": {"name": "kserve-container", "modelFormat": {"name": "sklearn"},
                                  "storageUri": "s3://m/churn-v2"}}}]
    assert errors(canary) == []
    assert any("spec.canary: unknown field" in e for e in errors(canary, P2603))  # KServe 0.16 has no canary[]


def test_pipeline_version_ir_is_parsed_strictly_and_its_pipeline_must_exist() -> None:
    pv = {"apiVersion": "pipelines.kubeflow.org/v2beta1", "kind": "PipelineVersion",
          "metadata": {"name": "nightly-v1", "namespace": "team-growth"},
          "spec": {"pipelineName": "nightly",
                   "pipelineSpec": {"pipelineInfo": {"name": "Nightly"}, "schemaVersion": "2.1.0",
                                    "root": {"dag": {"taks": {}}}}}}
    found = "\n".join(errors(pv))
    assert "spec.pipelineName: expected a Pipeline 'nightly' in namespace 'team-growth'" in found
    assert "pipelineInfo.name: expected ^[a-z0-9][a-z0-9-]{0,127}$, got 'Nightly'" in found
    assert "spec.pipelineSpec: expected a pipeline IR the KFP API can parse" in found and "taks" in found


def test_spark_conf_keys_the_operator_owns() -> None:
    app = yaml.safe_load((REFERENCE / "examples/spark/spark-pi.yaml").read_text())
    app["metadata"]["namespace"] = "team-growth"
    assert errors(app) == []
    app["spec"]["sparkConf"] = {"spark.master": "local[2]"}
    assert any("spec.sparkConf.spark.master: is set by the Spark operator" in e for e in errors(app))


def test_label_values_are_checked_like_the_api_server_does() -> None:
    body = trainjob()
    body["metadata"]["labels"] = {"owner": "alice@example.com"}
    assert any("metadata.labels.owner: expected a label value" in e for e in errors(body))


def test_core_kinds_use_kubernetes_schemas() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": 1}}
    assert any("data.a: expected a string, got integer 1" in e for e in errors(cm))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "n"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "comand": ["x"]}],
                                          "restartPolicy": "Never"}}}}
    assert any("spec.template.spec.containers[0].comand: unknown field (did you mean 'command'?)" in e
               for e in errors(job))


def test_legacy_pytorchjob_is_checked_with_the_training_operator_schema() -> None:
    job = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "m", "namespace": "n"},
           "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": {
               "spec": {"containers": [{"name": "pytorch", "image": "i"}]}}}}}}
    assert errors(job, LEGACY) == []  # runPolicy is optional in the operator's CRD, whatever its SDK says
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replica"] = 1
    assert any("Master.replica: unknown field (did you mean 'replicas'?)" in e for e in errors(job, LEGACY))
    assert [d.code for d in check(job, LATEST)] == ["KF403"]  # Trainer v2 stacks have no PyTorchJob


def test_a_kind_without_schema_is_one_warning_per_kind() -> None:
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"}}
    ds = check_resources([Resource(body=body, origin=ORIGIN), Resource(body=copy.deepcopy(body), origin=ORIGIN)],
                         LATEST)
    assert [(d.code, d.severity) for d in ds] == [("KF403", Severity.WARNING)]


def test_explain_provenance_becomes_the_hint() -> None:
    body = trainjob()
    body["spec"]["trainer"]["numNodes"] = -1.5
    [d] = check(body, explain={"spec.trainer.numNodes": "overlays/prod.yaml:12"})
    assert d.hint == "the value comes from overlays/prod.yaml:12"


@pytest.mark.parametrize("stack", [LATEST, P2603, LEGACY], ids=lambda s: s.name)
def test_every_shipped_kind_resolves_for_every_built_in_stack(stack: Any) -> None:
    """Every kind the index knows has a schema for each built-in cluster stack, except the other training
    API: Trainer v2 kinds on the legacy stack (Training Operator v1), PyTorchJob on the Trainer v2 stacks."""
    missing = []
    for key, entry in schemas_mod.shipped_index()["kinds"].items():
        group, _, kind = key.partition("/")
        doc_versions = schemas_mod._shipped_doc(next(iter(entry["releases"].values())))["versions"]
        for v in doc_versions:
            look = SchemaSet().lookup(stack, f"{group}/{v}" if group != "core" else v, kind)
            if look.schema is None:
                missing.append((kind, look.why))
    expected = {"TrainJob", "TrainingRuntime", "ClusterTrainingRuntime"} if stack is LEGACY else {"PyTorchJob"}
    assert {k for k, _ in missing} == expected, missing


def test_upstream_examples_pass_the_shipped_schemas() -> None:
    """The upstream examples and runtimes (trainer 2.3, KServe 0.20, …) are valid for kubeflow-latest."""
    assert REFERENCE.is_dir(), f"the reference set is needed beside the repository: {REFERENCE}"
    checked = 0
    for f in sorted([*REFERENCE.glob("examples/*/*.yaml"), *REFERENCE.glob("runtimes/**/*.yaml")]):
        for doc in yaml.safe_load_all(f.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") in (None, "Kustomization", "KatibConfig"):
                continue
            r = Resource(body=doc, origin=ORIGIN)
            look = SchemaSet().lookup(LATEST, r.api_version, r.kind)
            assert look.schema is not None, (f, look.why)
            assert schema_errors(look.schema, doc) == [], f
            checked += 1
    assert checked >= 60


def test_compiled_validators_are_reused_from_the_disk_cache(tmp_path: Path) -> None:
    code = ("import os, time\nfrom kfconf.build.schemas import SchemaSet, compiled\nfrom kfconf.spec.stacks import "
            "load_stack\nks = SchemaSet().lookup(load_stack('kubeflow-latest'), 'batch/v1', 'Job').schema\n"
            "compiled(ks)\nprint(sorted(os.listdir(os.environ['KFCONF_CACHE_DIR'])))\n")
    env = {**__import__("os").environ, "KFCONF_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".marshal"
    inode = files[0].stat().st_ino
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout == second.stdout and files[0].stat().st_ino == inode  # read, not written again
    for i in range(70):  # stale entries of older schemas: the least recently used go
        old = tmp_path / f"{i:040d}.marshal"
        old.write_bytes(b"")
        __import__("os").utime(old, (1, 1))
    files[0].unlink()
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    kept = list(tmp_path.glob("*.marshal"))
    assert len(kept) == schemas_mod.CACHE_KEEP and files[0] in kept


CUSTOM_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
            x-kubernetes-validations:
            - rule: self.size % 2 == 0
              message: size must be even
"""


def test_schemas_import_adds_a_projects_own_crds(tmp_path: Path) -> None:
    project = tmp_path / "p"
    subprocess.run([sys.executable, "-m", "kfconf.cli.main", "init", str(project)], check=True, capture_output=True)
    crd = tmp_path / "widget-crd.yaml"
    crd.write_text(CUSTOM_CRD)
    r = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "schemas", "import", str(crd), "-p", str(project)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    local = project / ".kfconf" / "schemas"
    assert (local / "example.com" / "Widget.json").is_file()
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"},
              "spec": {"size": 3, "colour": "red"}}
    ds = check_resources([Resource(body=widget, origin=ORIGIN)], LATEST, local_dirs=[local])
    found = {(d.code, d.message.split(": ", 1)[1].split(" [")[0]) for d in ds}
    assert ("KF401", "spec.colour: unknown field; expected one of size") in found
    assert ("KF402", "spec: size must be even") in found
    ls = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "schemas", "ls", str(project)],
                        capture_output=True, text=True)
    assert ls.returncode == 0 and str(local / "example.com" / "Widget.json") in ls.stdout


def test_schemas_import_without_a_crd_is_a_usage_error(tmp_path: Path) -> None:
    project = tmp_path / "p"
    subprocess.run([sys.executable, "-m", "kfconf.cli.main", "init", str(project)], check=True, capture_output=True)
    not_crd = tmp_path / "cm.yaml"
    not_crd.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "schemas", "import", str(not_crd), "-p", str(project)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no CustomResourceDefinition found" in r.stderr and "Traceback" not in r.stderr


def test_upstream_examples_pass_every_rule_but_their_known_faults() -> None:
    """No false positives on upstream's own examples (each file checked as one build), except faults
    that upstream's validators would refuse too: placeholders where a name goes, and simple-pbt's
    maxFailedTrialCount > maxTrialCount (refused by Katib's experiment validator)."""
    found = set()
    for f in sorted([*REFERENCE.glob("examples/*/*.yaml"), *REFERENCE.glob("runtimes/**/*.yaml")]):
        docs = [d for d in yaml.safe_load_all(f.read_text())
                if isinstance(d, dict) and d.get("kind") not in (None, "Kustomization", "KatibConfig")]
        for d in check_resources([Resource(body=d, origin=ORIGIN) for d in docs], LATEST):
            found.add((f.name, d.code, d.message.split(": ")[1]))
    assert found == {
        ("simple-pbt.yaml", "KF402", "spec.maxFailedTrialCount"),
        ("poddefault-basic.yaml", "KF402", "metadata.name"),
        ("poddefault-basic.yaml", "KF402", "metadata.namespace"),
        ("profile-with-quota.yaml", "KF402", "metadata.name"),
        ("pytorchjob-mnist.yaml", "KF403", "spec.trialTemplate.trialSpec"),  # no PyTorchJob on Trainer v2 stacks
    }
