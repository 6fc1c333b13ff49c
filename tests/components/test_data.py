"""Data renderer: SparkApplication / ScheduledSparkApplication and the driver's RBAC, checked against the
Spark Operator CRDs (strict) and the Kubernetes schemas; the operator's webhook rules; health."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from kfconf.build.context import RenderContext
from kfconf.build.pipeline import load_project
from kfconf.components import BY_KEY
from kfconf.components.data.checks import OPERATOR_KEYS
from kfconf.components.data.health import HEALTH, scheduled_spark_application, spark_application
from kfconf.core.errors import FindingsError
from kfconf.core.resource import Resource
from kfconf.testing.crds import CrdSchema, core_errors

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO.parent / "shared" / "reference" / "crds" / "sparkoperator.k8s.io"
SCHEMAS = {"SparkApplication": CrdSchema(CRDS / "sparkoperator.k8s.io_sparkapplications.yaml", "v1beta2"),
           "ScheduledSparkApplication": CrdSchema(CRDS / "sparkoperator.k8s.io_scheduledsparkapplications.yaml",
                                                  "v1beta2")}
STACKS = ("kubeflow-latest", "kubeflow-26.03", "kubeflow-legacy", "local")

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: a@example.com}
spec:
  profile: {namespace: team-a}
  source: {imageWorkdir: /opt/app}
  images: {spark: ghcr.io/acme/spark-jobs:2.0}
  data:
    - name: features
      file: jobs/features.py
      image: spark
      args: [--rows, 2000, --rate, 0.5, --out, s3a://b/features]
      driver: {cores: 2, memory: 4g}
      executors: {count: 3, cores: 4, memory: 8g}
      conf: {spark.sql.shuffle.partitions: 64, spark.dynamicAllocation.enabled: false}
      env:
        MODE: full
        AWS_SECRET_ACCESS_KEY: {secret: s3, key: secret}
      placement:
        nodeSelector: {pool: batch}
        tolerations: [{key: spot, operator: Exists, effect: NoSchedule}]
        priorityClass: batch-low
    - name: nightly
      file: ./jobs/../jobs/nightly.py
      schedule: "0 2 * * *"
    - name: remote
      file: s3a://acme/jobs/remote.py
"""


def project(tmp_path: Path, spec: str = SPEC, stack: str | None = None, files: dict[str, str] | None = None
            ) -> tuple[Any, Any]:
    (tmp_path / "jobs").mkdir(exist_ok=True)
    for name in ("features.py", "nightly.py"):
        (tmp_path / "jobs" / name).write_text("print('hi')\n")
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "ml-project.yaml").write_text(spec)
    p, st, _ = load_project(tmp_path, None, stack)
    return p, st


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def render(p: Any, st: Any) -> list[Resource]:
    return list(BY_KEY["data"].run_render(RenderContext(p, st, "data")))


def get(resources: list[Resource], name: str) -> Resource:
    return next(r for r in resources if r.name == name and r.kind.endswith("SparkApplication"))


def errors(r: Resource) -> list[str]:
    return SCHEMAS[r.kind].errors(r.body) if r.kind in SCHEMAS else core_errors(r.body)


def test_spark_application(tmp_path: Path) -> None:
    p, st = project(tmp_path)
    app = get(render(p, st), "features")
    pod_env = [{"name": "MODE", "value": "full"},
               {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "secret"}}}]
    placement = {"nodeSelector": {"pool": "batch"},
                 "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
                 "priorityClassName": "batch-low"}
    assert app.body == {
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": "features", "namespace": "team-a"},
        "spec": {
            "type": "Python", "pythonVersion": "3", "mode": "cluster", "image": "ghcr.io/acme/spark-jobs:2.0",
            "sparkVersion": "4.0.4", "mainApplicationFile": "local:///opt/app/jobs/features.py",
            "arguments": ["--rows", "2000", "--rate", "0.5", "--out", "s3a://b/features"],
            "sparkConf": {"spark.sql.shuffle.partitions": "64", "spark.dynamicAllocation.enabled": "false"},
            "restartPolicy": {"type": "Never"},
            "driver": {"cores": 2, "memory": "4g", "serviceAccount": "kfconf-spark", "env": pod_env, **placement},
            "executor": {"instances": 3, "cores": 4, "memory": "8g", "env": pod_env, **placement},
        },
    }
    # webhook rule: nodeSelector on the spec or on driver/executor, never both
    assert "nodeSelector" not in app.body["spec"]
    assert app.body["spec"]["driver"]["env"] is not app.body["spec"]["executor"]["env"]  # no YAML anchors
    assert app.explain["spec.image"] == "ml-project.yaml:11"
    assert app.explain["spec.sparkVersion"] == "stack kubeflow-latest: components.spark.sparkVersion"
    assert app.explain["spec.mainApplicationFile"] == \
        "ml-project.yaml:10 + spec.source.imageWorkdir (ml-project.yaml:6)"


def test_defaults_and_uris(tmp_path: Path) -> None:
    resources = render(*project(tmp_path))
    remote = get(resources, "remote").body["spec"]
    assert remote["mainApplicationFile"] == "s3a://acme/jobs/remote.py"
    assert remote["image"] == "ghcr.io/acme/spark-jobs:2.0"  # the project's `spark` image is the default
    assert get(resources, "remote").explain["spec.image"] == f"ml-project.yaml:{line_of(SPEC, 'images:')}"
    assert remote["driver"] == {"cores": 1, "memory": "1g", "serviceAccount": "kfconf-spark"}
    assert remote["executor"] == {"instances": 1, "cores": 1, "memory": "1g"}
    assert "arguments" not in remote and "sparkConf" not in remote
    no_image = SPEC.replace("  images: {spark: ghcr.io/acme/spark-jobs:2.0}\n", "").replace("      image: spark\n",
                                                                                             "")
    bare = get(render(*project(tmp_path, no_image)), "remote")
    assert bare.body["spec"]["image"] == "docker.io/apache/spark:4.0.4"
    assert bare.explain["spec.image"] == "stack kubeflow-latest: images.spark"


def test_schedule_wraps_the_same_spec(tmp_path: Path) -> None:
    resources = render(*project(tmp_path))
    nightly = get(resources, "nightly")
    assert nightly.kind == "ScheduledSparkApplication"
    assert nightly.body["spec"]["schedule"] == "0 2 * * *"
    assert nightly.body["spec"]["concurrencyPolicy"] == "Forbid"
    assert nightly.body["spec"]["template"]["mainApplicationFile"] == "local:///opt/app/jobs/nightly.py"
    once = get(render(*project(tmp_path, SPEC.replace('      schedule: "0 2 * * *"\n', ""))), "nightly")
    assert once.kind == "SparkApplication"
    assert nightly.body["spec"]["template"] == once.body["spec"]
    assert nightly.explain["spec.schedule"] == f"ml-project.yaml:{line_of(SPEC, 'schedule:')}"
    assert nightly.explain["spec.template.sparkVersion"].startswith("stack kubeflow-latest")


def test_driver_rbac_once_per_namespace(tmp_path: Path) -> None:
    resources = render(*project(tmp_path))
    rbac = [r for r in resources if not r.kind.endswith("SparkApplication")]
    assert [r.id for r in rbac] == ["ServiceAccount/team-a/kfconf-spark", "Role/team-a/kfconf-spark",
                                    "RoleBinding/team-a/kfconf-spark"]
    role = rbac[1].body
    assert role["rules"] == [{"apiGroups": [""],
                              "resources": ["pods", "configmaps", "persistentvolumeclaims", "services"],
                              "verbs": ["get", "list", "watch", "create", "update", "patch", "delete",
                                        "deletecollection"]}]
    binding = rbac[2].body
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kfconf-spark", "namespace": "team-a"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kfconf-spark"}
    for r in rbac:
        assert core_errors(r.body) == [], r.id


def test_existing_service_account(tmp_path: Path) -> None:
    stack = """\
        apiVersion: kfconf.dev/v1alpha1
        kind: Stack
        metadata: {name: chart-sa}
        extends: kubeflow-latest
        components:
          spark: {serviceAccount: spark-operator-spark, createServiceAccount: false}
        """
    p, st = project(tmp_path, SPEC.replace("  profile:", "  stack: ./stacks/s.yaml\n  profile:"),
                    files={"stacks/s.yaml": stack})
    resources = render(p, st)
    assert {r.kind for r in resources} == {"SparkApplication", "ScheduledSparkApplication"}
    assert get(resources, "remote").body["spec"]["driver"]["serviceAccount"] == "spark-operator-spark"


def test_no_data_no_objects(tmp_path: Path) -> None:
    spec = SPEC[: SPEC.index("  data:")]
    assert render(*project(tmp_path, spec)) == []


def test_operator_owned_conf_is_refused(tmp_path: Path) -> None:
    bad = SPEC.replace("spark.sql.shuffle.partitions: 64", "spark.kubernetes.namespace: other")
    with pytest.raises(FindingsError) as e:
        project(tmp_path, bad)
    assert [d.code for d in e.value.diagnostics] == ["KF206"]
    for r in render(*project(tmp_path)):
        for key in r.body.get("spec", {}).get("sparkConf", {}):
            assert not key.startswith(OPERATOR_KEYS)


@pytest.mark.parametrize("stack", STACKS)
def test_valid_against_the_crds(tmp_path: Path, stack: str) -> None:
    resources = render(*project(tmp_path, stack=stack))
    assert len(resources) == 6
    for r in resources:
        assert errors(r) == [], r.id


def test_the_strict_schemas_can_fail(tmp_path: Path) -> None:
    app = get(render(*project(tmp_path)), "features")
    app.body["spec"]["driver"]["gpus"] = 1
    app.body["spec"]["mode"] = "local"
    found = errors(app)
    assert any("gpus" in e for e in found) and any("spec.mode" in e for e in found)


@pytest.mark.parametrize("env", [None, "dev", "staging", "prod"])
def test_example(env: str | None) -> None:
    p, st, _ = load_project(REPO / "examples" / "churn", env)
    resources = render(p, st)
    assert [r.kind for r in resources][-1] == "ScheduledSparkApplication"
    for r in resources:
        assert errors(r) == [], r.id


@pytest.mark.parametrize(("status", "spec", "state", "message"), [
    ({"applicationState": {"state": "COMPLETED"}}, {}, "Healthy", "completed"),
    ({"applicationState": {"state": "FAILED", "errorMessage": "driver pod failed"}}, {}, "Degraded",
     "driver pod failed"),
    ({"applicationState": {"state": "SUBMISSION_FAILED"}}, {}, "Degraded", "submission failed"),
    ({"applicationState": {"state": "RUNNING"}, "executorState": {"e1": "RUNNING", "e2": "PENDING"}}, {},
     "Progressing", "1/2 executors running"),
    ({"applicationState": {"state": "SUSPENDED"}}, {"suspend": True}, "Suspended", "suspended"),
    ({"applicationState": {"state": "UNKNOWN"}}, {}, "Unknown", "lost track"),
    ({}, {}, "Progressing", "submit"),
])
def test_spark_application_health(status: dict[str, Any], spec: dict[str, Any], state: str, message: str) -> None:
    got = spark_application({"kind": "SparkApplication", "spec": spec, "status": status})
    assert (got.state, message in got.message) == (state, True), got


@pytest.mark.parametrize(("status", "spec", "state", "message"), [
    ({"scheduleState": "Scheduled", "nextRun": "2026-01-02T02:00:00Z", "lastRunName": "n-1",
      "pastSuccessfulRunNames": ["n-1"]}, {}, "Healthy", "next run 2026-01-02T02:00:00Z"),
    ({"scheduleState": "Scheduled", "lastRunName": "n-2", "pastFailedRunNames": ["n-2"]}, {}, "Degraded",
     "last run n-2 failed"),
    ({"scheduleState": "FailedValidation", "reason": "invalid cron"}, {}, "Degraded", "invalid cron"),
    ({}, {}, "Progressing", "validate"),
    ({"scheduleState": "Scheduled"}, {"suspend": True}, "Suspended", "suspended"),
])
def test_scheduled_health(status: dict[str, Any], spec: dict[str, Any], state: str, message: str) -> None:
    got = scheduled_spark_application({"kind": "ScheduledSparkApplication", "spec": spec, "status": status})
    assert (got.state, message in got.message) == (state, True), got
    assert HEALTH["sparkoperator.k8s.io/ScheduledSparkApplication"] is scheduled_spark_application
