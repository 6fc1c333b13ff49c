"""Tuning renderer: Katib Experiments checked against Katib's OpenAPI definitions (the CRD is schemaless),
their trial templates against the Trainer CRD, and the webhook rules."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kfconf.build.pipeline import load_project
from kfconf.components.tuning.rules import experiment_problems
from kfconf.core.errors import FindingsError
from kfconf.spec.stacks import load_stack
from kfconf.testing.crds import strict
from tests.components import helpers as T

KATIB_SWAGGER = T.REFERENCE / "openapi/katib-v1beta1.swagger.json"
TRAINJOB_CRD = T.TRAINER_CRDS["v2.3.0"] / "trainer.kubeflow.org_trainjobs.yaml"
KUBEFLOW_LATEST = load_stack("kubeflow-latest")


@cache
def katib_validator() -> jsonschema.protocols.Validator:
    defs = json.loads(KATIB_SWAGGER.read_text())["definitions"]
    # Kubernetes types the swagger refers to but does not define: validated elsewhere (trialSpec) or free
    for name in ("v1.ObjectMeta", "v1.ListMeta", "v1.Time", "v1.Container", "v1.HTTPGetAction",
                 "v1.unstructured.Unstructured"):
        defs.setdefault(name, {"type": "object"} if name != "v1.Time" else {"type": "string"})
    strict_defs = {k: strict(v) for k, v in defs.items()}
    return jsonschema.Draft4Validator({"$ref": "#/definitions/v1beta1.Experiment", "definitions": strict_defs})


def katib_errors(body: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in katib_validator().iter_errors(body)]


def check_experiment(body: dict[str, Any], trial_crd: Path | None = TRAINJOB_CRD) -> None:
    assert katib_errors(body) == []
    assert experiment_problems(body, KUBEFLOW_LATEST) == []
    if trial_crd is not None:
        trial = copy.deepcopy(body["spec"]["trialTemplate"]["trialSpec"])
        trial.setdefault("metadata", {})["name"] = "trial"  # Katib names each trial
        assert T.crd_errors(trial, trial_crd) == []


PROJECT = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo}
spec:
  profile: {namespace: team-a, owner: a@example.com}
  training:
    - name: mnist
      image: ghcr.io/acme/mnist:2
      command: [python, train.py]
      args: ARGS
      nodes: 2
      resources: {cpu: 1, memory: 2Gi}
  tuning:
    - name: hpo
      trial: training/mnist
      objective: {metric: loss, goal: minimize, target: 0.01, additional: [accuracy]}
      algorithm: ALGORITHM
      parameters:
        lr: {type: double, min: 0.001, max: 0.1, step: 0.001}
        epochs: {type: int, min: 1, max: 4}
        optimizer: {type: categorical, values: [sgd, adam]}
      budget: {trials: 4, parallel: 2, failures: 1}
"""
ARGS = "{lr: 0.01, epochs: 2, optimizer: sgd, seed: 7}"
ALGORITHMS = {
    "random": "{name: random, settings: {random_state: 1}}",
    "tpe": "{name: tpe, settings: {gamma: 0.25, n_EI_candidates: 24}}",
    "grid": "{name: grid}",
    "multivariate-tpe": "{name: multivariate-tpe, settings: {n_startup_trials: 5}}",
    "bayesianoptimization": "{name: bayesianoptimization, settings: {base_estimator: GP, n_initial_points: 5}}",
    "cmaes": "{name: cmaes, settings: {sigma: 0.5, restart_strategy: ipop}}",
    "sobol": "{name: sobol}",
    "hyperband": "{name: hyperband, settings: {resource_name: epochs, r_l: 4, eta: 2}}",
    "pbt": "{name: pbt, settings: {suggestion_trial_dir: /var/log/katib/checkpoints/, n_population: 5, "
           "truncation_threshold: 0.2}}",
}


def experiment_for(tmp_path: Path, algorithm: str = ALGORITHMS["random"], args: str = ARGS,
                   stack: str | None = None, extra: str = "") -> Any:
    spec = PROJECT.replace("ARGS", args).replace("ALGORITHM", algorithm) + extra
    project, st = T.make_project(tmp_path, spec, stack=stack)
    (exp,) = T.rendered(project, st, "tuning")
    return exp


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_renders_a_valid_experiment(tmp_path: Path, algorithm: str) -> None:
    exp = experiment_for(tmp_path, ALGORITHMS[algorithm])
    check_experiment(exp.body)
    spec = exp.body["spec"]
    assert spec["algorithm"]["algorithmName"] == algorithm
    assert all(isinstance(s["value"], str) for s in spec["algorithm"].get("algorithmSettings", []))
    assert spec["resumePolicy"] == ("FromVolume" if algorithm == "pbt" else "Never")


def test_experiment_fields(tmp_path: Path) -> None:
    exp = experiment_for(tmp_path, extra="      earlyStopping: {name: medianstop, settings: {min_trials_required: 2, "
                                         "start_step: 4}}\n")
    check_experiment(exp.body)
    spec = exp.body["spec"]
    assert exp.body["metadata"] == {"name": "hpo", "namespace": "team-a"}
    assert spec["objective"] == {"type": "minimize", "goal": 0.01, "objectiveMetricName": "loss",
                                 "additionalMetricNames": ["accuracy"],
                                 "metricStrategies": [{"name": "loss", "value": "min"},
                                                      {"name": "accuracy", "value": "min"}]}
    assert (spec["parallelTrialCount"], spec["maxTrialCount"], spec["maxFailedTrialCount"]) == (2, 4, 1)
    assert spec["earlyStopping"] == {"algorithmName": "medianstop", "algorithmSettings": [
        {"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "4"}]}
    # feasible spaces are strings; whole numbers for int parameters
    assert spec["parameters"] == [
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "0.1", "step": "0.001"}},
        {"name": "epochs", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "4"}},
        {"name": "optimizer", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam"]}}]
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    tt = spec["trialTemplate"]
    # Katib's defaults for a TrainJob trial, written out so they never show as drift
    assert tt["primaryContainerName"] == "node"
    assert tt["successCondition"] == 'status.conditions.#(type=="Complete")#|#(status=="True")#'
    assert tt["failureCondition"] == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    assert tt["primaryPodLabels"] == {"jobset.sigs.k8s.io/replicatedjob-name": "node",
                                      "batch.kubernetes.io/job-completion-index": "0"}
    assert [p["name"] for p in tt["trialParameters"]] == ["lr", "epochs", "optimizer"]
    trial = tt["trialSpec"]
    assert (trial["apiVersion"], trial["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert "metadata" not in trial
    assert trial["spec"]["trainer"]["args"] == ["--lr", "${trialParameters.lr}", "--epochs",
                                                "${trialParameters.epochs}", "--optimizer",
                                                "${trialParameters.optimizer}", "--seed", "7"]
    # the trial is the training renderer's TrainJob apart from the substituted args
    project, st = T.make_project(tmp_path, PROJECT.replace("ARGS", ARGS).replace("ALGORITHM",
                                                                                  ALGORITHMS["random"]))
    (job,) = T.rendered(project, st, "training")
    untouched = copy.deepcopy(job.body["spec"])
    del untouched["trainer"]["args"], trial["spec"]["trainer"]["args"]
    assert trial["spec"] == untouched


def test_models_round_trip(tmp_path: Path) -> None:
    """kubeflow-katib-api's V1beta1Experiment keeps every field it knows: a lossy round trip would mean a
    misplaced field (the Katib CRD itself accepts anything)."""
    from kubeflow_katib_api.models import V1beta1Experiment

    exp = experiment_for(tmp_path, extra="      metricsCollector: {kind: file, path: /var/log/m.log}\n")
    body = copy.deepcopy(exp.body)
    assert V1beta1Experiment.from_dict(body).to_dict() == body


def test_file_collector_and_list_args(tmp_path: Path) -> None:
    args = "[--lr=0.01, --epochs, '2', --optimizer, sgd, --fixed]"
    exp = experiment_for(tmp_path, args=args, extra="      metricsCollector: {kind: file, path: /out/metrics.txt}\n")
    check_experiment(exp.body)
    spec = exp.body["spec"]
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "File"}, "source": {"fileSystemPath": {
        "path": "/out/metrics.txt", "kind": "File", "format": "TEXT"}}}
    assert spec["trialTemplate"]["trialSpec"]["spec"]["trainer"]["args"] == [
        "--lr=${trialParameters.lr}", "--epochs", "${trialParameters.epochs}", "--optimizer",
        "${trialParameters.optimizer}", "--fixed"]


def test_legacy_trial_is_a_pytorchjob(tmp_path: Path) -> None:
    exp = experiment_for(tmp_path, stack="kubeflow-legacy")
    check_experiment(exp.body, trial_crd=None)
    tt = exp.body["spec"]["trialTemplate"]
    trial = tt["trialSpec"]
    assert (trial["apiVersion"], trial["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert T.swagger_errors({**trial, "metadata": {"name": "t"}}, "KubeflowOrgV1PyTorchJob") == []
    assert tt["primaryContainerName"] == "pytorch"
    assert tt["successCondition"] == 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
    assert tt["primaryPodLabels"] == {"training.kubeflow.org/job-role": "master"}
    for role in ("Master", "Worker"):
        c = trial["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]["containers"][0]
        assert "${trialParameters.lr}" in c["args"]


def test_examples_render_valid_experiments() -> None:
    for env in (None, "dev", "staging", "prod"):
        project, stack, _ = load_project(T.REPO / "examples" / "churn", env)
        (exp,) = T.rendered(project, stack, "tuning")
        check_experiment(exp.body)
        # the trial refers to the runtime the training entry renders (here a derived one, for its dataset)
        trainjobs = [r for r in T.rendered(project, stack, "training") if r.kind == "TrainJob"]
        assert exp.body["spec"]["trialTemplate"]["trialSpec"]["spec"]["runtimeRef"] == \
            trainjobs[0].body["spec"]["runtimeRef"]
        source = "overlays/dev.yaml" if env == "dev" else "ml-project.yaml"
        trials = project.source.at(("spec", "tuning", 0, "budget", "trials"))
        assert trials.file.endswith(source)
        assert exp.explain["spec.maxTrialCount"] == f"{source}:{trials.line}"


def test_webhook_rules_catch_what_upstream_rejects(tmp_path: Path) -> None:
    good = experiment_for(tmp_path).body
    assert experiment_problems(good, KUBEFLOW_LATEST) == []

    def broken(change: Any) -> list[str]:
        body = copy.deepcopy(good)
        change(body)
        return [f for f, _ in experiment_problems(body, KUBEFLOW_LATEST)]

    assert broken(lambda b: b["metadata"].update(name="x" * 41)) == ["metadata.name"]
    assert broken(lambda b: b["spec"].update(parallelTrialCount=9)) == ["spec.parallelTrialCount"]
    assert broken(lambda b: b["spec"]["objective"].update(additionalMetricNames=["loss"])) == \
        ["spec.objective.additionalMetricNames"]
    assert broken(lambda b: b["spec"]["parameters"][0]["feasibleSpace"].update(min=0.001)) == \
        ["spec.parameters[0].feasibleSpace.min"]
    assert broken(lambda b: b["spec"]["parameters"][2]["feasibleSpace"].update(min="1")) == \
        ["spec.parameters[2].feasibleSpace.min"]
    # a trial parameter that the template never uses, and a placeholder no trial parameter fills
    assert broken(lambda b: b["spec"]["trialTemplate"]["trialParameters"].append(
        {"name": "unused", "reference": "lr"})) == ["spec.trialTemplate.trialParameters[3].reference"]
    assert broken(lambda b: b["spec"]["trialTemplate"]["trialSpec"]["spec"]["trainer"]["args"].append(
        "${trialParameters.momentum}")) == ["spec.trialTemplate.trialSpec"]
    assert broken(lambda b: b["spec"]["trialTemplate"]["trialSpec"].update(metadata={"name": "x"})) == \
        ["spec.trialTemplate.trialSpec.metadata.name"]
    assert broken(lambda b: b["spec"].update(metricsCollectorSpec={"collector": {"kind": "File"}, "source": {
        "fileSystemPath": {"path": "rel.log", "kind": "File", "format": "TEXT"}}})) == \
        ["spec.metricsCollectorSpec.source.fileSystemPath.path"]
    # and the swagger check rejects a misspelled field the webhook would silently ignore
    body = copy.deepcopy(good)
    body["spec"]["objective"]["metric"] = "loss"
    assert any("metric" in e for e in katib_errors(body))


def test_health_rules() -> None:
    from kfconf.components.tuning.health import HEALTH

    exp = HEALTH["Experiment"]
    done = {"status": {"conditions": [{"type": "Running", "status": "False"},
                                      {"type": "Succeeded", "status": "True", "reason": "ExperimentGoalReached"}]}}
    assert exp(done).state == "Healthy" and exp(done).message == "ExperimentGoalReached"
    assert exp({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}).state == "Degraded"
    running = {"spec": {"maxTrialCount": 8}, "status": {"trialsSucceeded": 3, "trialsRunning": 2,
                                                        "conditions": [{"type": "Running", "status": "True"}]}}
    assert exp(running).state == "Progressing" and "3 of 8" in exp(running).message


def test_spec_checks_for_webhook_and_service_rules(tmp_path: Path) -> None:
    """Rules the Katib webhook and suggestion services apply, reported on the spec line before rendering."""
    spec = PROJECT.replace("ARGS", "{lr: 0.01, epochs: 2, optimizer: sgd, '{x}': 1}").replace(
        "ALGORITHM", "{name: hyperband, settings: {resource_name: epochs, r_l: 0, eta: 2}}")
    line = "        optimizer: {type: categorical, values: [sgd, adam]}\n"
    spec = spec.replace(line, line + "        '{x}': {type: int, min: 1, max: 2}\n")
    spec += "      earlyStopping: {name: medianstop, settings: {min_trials_required: 0, start_step: 2.5}}\n"
    with pytest.raises(FindingsError) as e:
        T.make_project(tmp_path, spec)
    found = {(d.code, d.path[-1]) for d in e.value.diagnostics}
    assert {("KF104", "r_l"), ("KF108", "{x}"), ("KF104", "min_trials_required"), ("KF104", "start_step")} <= found
