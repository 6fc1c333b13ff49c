"""The local machinery without running engines: metrics format, args, paths, secrets, registry, URIs,
progress, the Katib → Ray Tune mapping, engine settings and address pass-through."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from kfconf.cli.main import main
from kfconf.core.errors import FindingsError
from kfconf.local import uris
from kfconf.local.artifacts import ArtifactStore, hash_tree, output_hash
from kfconf.local.engines import Engines, spark_conf
from kfconf.local.env import PathMap, Secrets, render_args
from kfconf.local.metrics import parse_line
from kfconf.local.progress import Progress
from kfconf.local.registry import RegistryStore
from kfconf.local.runs import StepLog
from tests.local.conftest import load, run, write_project

pytestmark = pytest.mark.local


# -- Katib's StdOut collector format -------------------------------------------------------------------
@pytest.mark.parametrize(("line", "expected"), [
    ("epoch=1 loss=0.3 accuracy=.98", {"epoch": 1.0, "loss": 0.3, "accuracy": 0.98}),
    ("val-auc = 0.91, val_loss=-1.5e-2", {"val-auc": 0.91, "val_loss": -0.015}),
    ("Train-accuracy=0.85 lr=1E-3", {"Train-accuracy": 0.85, "lr": 0.001}),
    ("a=1|b=2", {"a": 1.0, "|b": 2.0}),  # Katib's class [\w|-] takes '|' into the name: same here
    ("name=resnet status=ok", {}),
    ("no metrics here", {}),
])
def test_stdout_metrics_use_katibs_default_filter(line: str, expected: dict[str, float]) -> None:
    assert parse_line(line) == expected


def test_metric_names_filter_like_katibs_metric_list() -> None:
    assert parse_line("epoch=2 loss=0.3 acc=0.9", names=["acc"]) == {"acc": 0.9}


# -- args, paths, secrets --------------------------------------------------------------------------
def test_args_render_as_the_trainer_does_and_take_overrides() -> None:
    assert render_args({"lr": 0.01, "epochs": 5, "fast": True}) == ["--lr", "0.01", "--epochs", "5", "--fast", "true"]
    assert render_args({"lr": 0.01, "epochs": 5}, {"lr": 0.003, "batch-size": "64"}) == [
        "--lr", "0.003", "--epochs", "5", "--batch-size", "64"]
    assert render_args(["--lr", "${trialParameters.lr}", "--x", "1"], {"lr": 0.5, "x": 2, "y": 3}) == [
        "--lr", "0.5", "--x", "2", "--y", "3"]


def test_container_paths_map_to_local_folders(tmp_path: Path) -> None:
    pm = PathMap()
    pm.add("/workspace", tmp_path / "ws")
    pm.add("/app", tmp_path / "src")
    assert pm.map("/workspace/model/x.bin") == f"{tmp_path}/ws/model/x.bin"
    assert pm.map("--data=/workspace/dataset") == f"--data={tmp_path}/ws/dataset"
    assert pm.map("/app") == f"{tmp_path}/src"
    assert pm.map("/workspacex") == "/workspacex"
    assert pm.map("relative/path") == "relative/path"


def test_secrets_resolve_from_file_then_env_and_are_redacted(tmp_path: Path) -> None:
    from kfconf.spec.types import ConfigMapRef, SecretRef

    (tmp_path / ".kfconf").mkdir()
    (tmp_path / ".kfconf" / "secrets.yaml").write_text("wandb:\n  api-key: s3cr3t-value\n", encoding="utf-8")
    s = Secrets(tmp_path, environ={"KFCONF_SECRET_HF_CREDENTIALS_TOKEN": "hf_tok3n", "PRESET": "from-env"})
    env, missing = s.resolve_env({
        "WANDB_API_KEY": SecretRef(secret="wandb", key="api-key"),
        "HF_TOKEN": SecretRef(secret="hf-credentials", key="token"),
        "PRESET": SecretRef(secret="nope", key="k"),
        "GONE": SecretRef(secret="nope", key="k"),
        "CM": ConfigMapRef(configMap="cfg", key="mode"),
        "PLAIN": 3,
    })
    assert env == {"WANDB_API_KEY": "s3cr3t-value", "HF_TOKEN": "hf_tok3n", "PRESET": "from-env", "PLAIN": "3"}
    assert [m.split(" ")[0] for m in missing] == ["GONE", "CM"]
    assert not any("s3cr3t" in m for m in missing)
    log = StepLog(tmp_path / "x.log", redact=s.used)
    log.line("token is hf_tok3n and key s3cr3t-value")
    log.close()
    assert (tmp_path / "x.log").read_text() == "token is *** and key ***\n"


# -- artifact store ----------------------------------------------------------------------------------
def test_artifact_store_commits_and_finds_outputs(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    out = store.prepare("training/m", "ab" * 32)
    (out / "model.pt").write_text("weights")
    assert store.lookup("training/m", "ab" * 32) is None  # no record until the run succeeded
    rec = store.commit("training/m", "ab" * 32, {"metrics": {"acc": 1.0}}, "run-1")
    assert store.lookup("training/m", "ab" * 32) == rec
    assert store.latest("training/m") == rec
    assert rec.output_hash == output_hash(out, {"metrics": {"acc": 1.0}})
    assert rec.output_hash != output_hash(out, {"metrics": {"acc": 0.5}})
    (out / "model.pt").write_text("other")
    assert output_hash(out, {"metrics": {"acc": 1.0}}) != rec.output_hash


def test_hash_tree_survives_link_loops(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    assert len(hash_tree(tmp_path / "a")) == 64


# -- registry -----------------------------------------------------------------------------------------
def test_registry_store_has_model_registry_concepts_and_names(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path / "registry.db")
    ver, what = store.register("churn", "v3", "file:///m/1", format_name="pytorch", format_version="2",
                               description="best trial", author="alice@example.com", owner="alice@example.com",
                               metadata={"dataset": "features", "epochs": 5, "auc": 0.9, "ok": True})
    assert what == "created"
    assert ver["name"] == "v3" and ver["registeredModelId"] == ver["registeredModel"]["id"]
    assert ver["author"] == "alice@example.com" and ver["state"] == "LIVE"
    assert ver["customProperties"]["dataset"] == {"metadataType": "MetadataStringValue", "string_value": "features"}
    assert ver["customProperties"]["epochs"] == {"metadataType": "MetadataIntValue", "int_value": "5"}
    assert ver["customProperties"]["auc"]["metadataType"] == "MetadataDoubleValue"
    assert ver["customProperties"]["ok"] == {"metadataType": "MetadataBoolValue", "bool_value": True}
    art = ver["artifacts"][0]
    assert art["artifactType"] == "model-artifact"
    assert (art["uri"], art["modelFormatName"], art["modelFormatVersion"]) == ("file:///m/1", "pytorch", "2")
    assert isinstance(art["id"], str) and art["createTimeSinceEpoch"].isdigit()
    kwargs: dict[str, Any] = dict(format_name="pytorch", format_version="2", description="best trial",
                                  author="alice@example.com", metadata={"dataset": "features", "epochs": 5,
                                                                        "auc": 0.9, "ok": True})
    assert store.register("churn", "v3", "file:///m/1", **kwargs)[1] == "unchanged"
    ver2, what = store.register("churn", "v3", "file:///m/2", **kwargs)
    assert what == "updated" and ver2["artifacts"][0]["uri"] == "file:///m/2" and len(ver2["artifacts"]) == 1
    store.register("churn", "v4", "file:///m/3", format_name="pytorch")
    model = store.model("churn")
    assert model is not None and [v["name"] for v in model["versions"]] == ["v3", "v4"]
    latest = store.version("churn")
    assert latest is not None and latest["name"] == "v4"


def test_registry_cli_lists_and_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_project(tmp_path, "")
    RegistryStore.for_project(tmp_path).register("churn", "v1", "file:///m", format_name="sklearn",
                                                 description="d", metadata={"k": "v"})
    assert main(["registry", "ls", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "churn" in out and "v1" in out and "sklearn" in out
    assert main(["registry", "ls", str(tmp_path), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["size"] == 1 and doc["items"][0]["versions"][0]["artifacts"][0]["uri"] == "file:///m"
    assert main(["registry", "show", "churn", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ModelVersion v1" in out and "ModelArtifact churn-v1" in out and "k: v" in out
    assert main(["registry", "show", "churn", str(tmp_path), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "churn"
    assert main(["registry", "show", "nope", str(tmp_path)]) == 2
    assert "no registered model named 'nope'" in capsys.readouterr().err


# -- initializer URIs ----------------------------------------------------------------------------------
def test_uris_resolve_local_cache_and_hf_hub_cache(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    assert uris.resolve("data", project_dir=tmp_path).path == tmp_path / "data"
    assert uris.resolve(f"file://{tmp_path}/data", project_dir=tmp_path).path == tmp_path / "data"
    cached = tmp_path / ".kfconf" / "cache" / "s3" / "bucket" / "x"
    cached.mkdir(parents=True)
    assert uris.resolve("s3://bucket/x", project_dir=tmp_path, environ={}).path == cached
    hub = tmp_path / "hub" / "models--org--m"
    (hub / "snapshots" / "abc").mkdir(parents=True)
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text("abc")
    r = uris.resolve("hf://org/m", project_dir=tmp_path, environ={"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert r.path == hub / "snapshots" / "abc" and "Hugging Face" in r.source
    with pytest.raises(uris.Unresolvable) as e:
        uris.resolve("hf://Qwen/Qwen2.5-0.5B", project_dir=tmp_path, environ={"HF_HUB_CACHE": str(tmp_path / "no")})
    assert "cannot be fetched" in str(e.value) and ".kfconf/cache/hf/Qwen/Qwen2.5-0.5B" in e.value.hint


def test_output_uris_of_entries_resolve_to_their_local_outputs(tmp_path: Path) -> None:
    from kfconf.components.training.local import Launcher

    write_project(tmp_path, """
        data:
          - {name: prep, file: p.py, output: "s3://b/prep"}
        training:
          - {name: t, command: [python, t.py], output: "s3://b/models/t"}
    """, {"p.py": "", "t.py": ""})
    project, _ = load(tmp_path)
    assert uris.producer("s3://b/prep/part-0", project) == ("data/prep", "part-0")
    assert uris.producer("s3://b/models/t", project) == ("training/t", "")
    assert uris.producer("gs://elsewhere/prep", project) == ("data/prep", "")  # by the data entry's name
    assert uris.producer("s3://b/other", project) is None
    store = ArtifactStore(tmp_path)
    out = store.prepare("training/t", "c" * 64)
    store.commit("training/t", "c" * 64, {}, "run-1")
    assert uris.resolve("s3://b/models/t", project_dir=tmp_path, project=project, store=store, environ={}).path == out
    launcher = Launcher(["python", "t.py"], {"save": "s3://b/models/t/model.pt"}, 1, 1, ".", {},
                        output_uri="s3://b/models/t")
    argv, env = launcher.commands(output_dir="/tmp/out", port=29999)[0]
    assert argv[-2:] == ["--save", "/tmp/out/model.pt"]
    assert (env["RANK"], env["WORLD_SIZE"], env["MASTER_PORT"], env["PET_MASTER_PORT"]) == ("0", "1", "29999", "29999")


def test_unfetchable_initializer_is_a_finding_at_its_line(tmp_path: Path) -> None:
    write_project(tmp_path, """
        training:
          - name: t
            command: [python, t.py]
            model: {uri: "hf://Qwen/Qwen2.5-0.5B"}
    """, {"t.py": "print('x')\n"})
    with pytest.raises(FindingsError) as e:
        run(tmp_path, "training/t")
    d = e.value.diagnostics[0]
    assert d.code == "KF701" and d.loc is not None and d.loc.line == 9
    assert "hf://Qwen/Qwen2.5-0.5B cannot be fetched" in d.message and d.hint and ".kfconf/cache/hf" in d.hint
    assert not (tmp_path / ".kfconf" / "runs").exists()  # nothing ran


# -- Katib → Ray Tune ---------------------------------------------------------------------------------
TUNING = """
training:
  - name: t
    command: [python, t.py]
    args: {x: 0.5, n: 2, k: a}
tuning:
  - name: hpo
    trial: training/t
    objective: {metric: score, goal: maximize}
    algorithm: {name: ALGO, settings: SETTINGS}
    parameters:
      x: {type: double, min: 0.0, max: 1.0, step: 0.5}
      n: {type: int, min: 1, max: 9}
      k: {type: categorical, values: [a, b]}
    budget: {trials: 4, parallel: 2}
"""


@pytest.mark.parametrize(("algo", "settings", "searcher", "scheduler"), [
    ("random", "{random_state: 1}", "BasicVariantGenerator", None),
    ("grid", "{}", "BasicVariantGenerator", None),
    ("tpe", "{random_state: 1, gamma: 0.3}", "HyperOptSearch", None),
    ("tpe", "{n_EI_candidates: 12}", "OptunaSearch", None),
    ("multivariate-tpe", "{random_state: 1}", "OptunaSearch", None),
    ("cmaes", "{random_state: 1, sigma: 0.2}", "OptunaSearch", None),
    ("sobol", "{}", "OptunaSearch", None),
    ("bayesianoptimization", "{random_state: 1, n_initial_points: 2}", "OptunaSearch", None),
    ("hyperband", "{r_l: 9, resource_name: n, eta: 3}", "BasicVariantGenerator", "HyperBandScheduler"),
    ("pbt", "{suggestion_trial_dir: /var/log/katib/checkpoints, n_population: 5, truncation_threshold: 0.3}",
     "BasicVariantGenerator", "PopulationBasedTraining"),
])
def test_each_katib_algorithm_maps_to_its_ray_tune_equivalent(tmp_path: Path, algo: str, settings: str,
                                                                 searcher: str, scheduler: str | None) -> None:
    from kfconf.components.tuning.local import grid_points, search_space
    from kfconf.components.tuning.local import searcher as make

    write_project(tmp_path, TUNING.replace("ALGO", algo).replace("SETTINGS", settings), {"t.py": ""})
    project, _ = load(tmp_path)
    tj = project.entry("tuning/hpo")
    alg, sched, n = make(tj, 1, [])
    assert type(alg).__name__ == searcher
    assert (type(sched).__name__ if sched is not None else None) == scheduler
    space = search_space(tj, [])
    assert set(space) == ({"x", "k"} if algo == "hyperband" else {"x", "n", "k"})
    if algo == "grid":
        pts = grid_points(tj)
        assert len(pts) == 4 and pts[0] == {"x": 0.0, "n": 1, "k": "a"}  # capped at budget.trials
    if algo == "pbt":
        assert n == 4


def test_medianstop_maps_to_median_stopping_rule_on_iterations(tmp_path: Path) -> None:
    from kfconf.components.tuning.local import searcher as make

    spec = TUNING.replace("ALGO", "random").replace("SETTINGS", "{}") + \
        "    earlyStopping: {name: medianstop, settings: {min_trials_required: 2, start_step: 3}}\n"
    write_project(tmp_path, spec, {"t.py": ""})
    tj = load(tmp_path)[0].entry("tuning/hpo")
    _, sched, _ = make(tj, None, [])
    assert type(sched).__name__ == "MedianStoppingRule"
    assert sched._time_attr == "training_iteration"
    assert sched._grace_period == 3 and sched._min_samples_required == 2


@pytest.mark.parametrize("algo", ["enas", "darts"])
def test_algorithms_without_local_equivalent_are_refused_at_their_line(tmp_path: Path, algo: str) -> None:
    from types import SimpleNamespace

    from kfconf.components.tuning.local import preflight
    from kfconf.components.tuning.spec import AlgorithmSpec
    from kfconf.core.errors import Diagnostic

    # validation already refuses NAS algorithms (no nasConfig in the spec model yet) …
    write_project(tmp_path, TUNING.replace("ALGO", algo).replace("SETTINGS", "{}"), {"t.py": ""})
    with pytest.raises(FindingsError) as e:
        run(tmp_path, "tuning/hpo")
    d = e.value.diagnostics[0]
    assert d.loc is not None and d.loc.line == 14 and d.path[-2:] == ("algorithm", "name")
    # … and the local runner gives KF702 for them, never a silent substitute
    write_project(tmp_path, TUNING.replace("ALGO", "random").replace("SETTINGS", "{}"), {"t.py": ""})
    project, _ = load(tmp_path)
    tj = project.entry("tuning/hpo").model_copy(update={"algorithm": AlgorithmSpec(name=algo)})
    session = SimpleNamespace(project=project, diag=lambda code, msg, ref, *path, **kw: Diagnostic(
        code, msg, project.loc((*project.entry_path("tuning", "hpo"), *path)), path))
    first = next(iter(preflight(session, tj)))  # type: ignore[arg-type]
    assert first.code == "KF702" and f"algorithm {algo}" in first.message and "no Ray Tune equivalent" in first.message
    assert first.loc is not None and first.loc.line == 14


# -- engine settings -----------------------------------------------------------------------------------
def test_spark_conf_is_loopback_without_ui_and_honours_the_master() -> None:
    conf = spark_conf("local[2]", None, None)
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    remote = spark_conf("spark://10.0.0.5:7077", None, None)
    assert "spark.driver.host" not in remote  # executors on other hosts must reach the driver
    assert Engines(spark_master="spark://10.0.0.5:7077").master == "spark://10.0.0.5:7077"
    assert Engines().master == "local[2]"


def test_ray_address_is_passed_to_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    seen: dict[str, Any] = {}
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(kw))
    Engines(ray_address="ray://127.0.0.1:10001").ray()
    assert seen["address"] == "ray://127.0.0.1:10001" and "num_cpus" not in seen
    seen.clear()
    Engines(ray_cpus=2).ray()
    assert seen["num_cpus"] == 2 and seen["include_dashboard"] is False and seen["address"] == "local"


def test_cli_passes_cluster_addresses_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kfconf.local.runner as runner

    write_project(tmp_path, "")
    seen: dict[str, Any] = {}

    def fake(project: Any, stack: Any, target: Any, **kw: Any) -> Any:
        seen.update(kw)
        return type("R", (), {"ok": True})()

    monkeypatch.setattr(runner, "run_target", fake)
    assert main(["run", str(tmp_path), "data/x", "--ray-address", "127.0.0.1:6379",
                 "--spark-master", "spark://127.0.0.1:7077", "--once"]) == 0
    opts = seen["options"]
    assert (opts.ray_address, opts.spark_master, opts.keep_serving) == ("127.0.0.1:6379", "spark://127.0.0.1:7077",
                                                                         False)


# -- progress ------------------------------------------------------------------------------------------
def test_progress_plain_lines_and_live_block() -> None:
    plain = io.StringIO()
    p = Progress(plain, live=False)
    p.start("run x", [("prep", "data/f"), ("train", "training/m")])
    p.state("prep", "running")
    p.detail("prep", "epoch 1/5 loss=0.3", echo=True)
    p.state("prep", "done")
    p.close()
    lines = plain.getvalue().splitlines()
    assert lines[0].endswith("run x") and "prep" in lines[1] and "started data/f" in lines[1]
    assert "epoch 1/5" in lines[2] and "done (" in lines[3]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    live = Progress(tty)
    assert live.live
    live.start("run y", [("tune", "tuning/h")])
    live.state("tune", "running")
    live.detail("tune", "trial 2/4 · epoch 3/5")
    live.event("tune", "trial 1/4 succeeded")
    live.close()
    out = tty.getvalue()
    assert "\x1b[" in out and "trial 2/4 · epoch 3/5" in out and "trial 1/4 succeeded" in out


def test_run_verb_splits_path_and_target() -> None:
    from kfconf.cli.run import split_args

    assert split_args("training/x", None) == (".", "training/x")
    assert split_args("examples/churn", None) == ("examples/churn", None)
    assert split_args("examples/churn", "pipelines/nightly") == ("examples/churn", "pipelines/nightly")
    assert split_args(None, None) == (".", None)


def test_heavy_engines_are_not_imported_by_the_cli() -> None:
    import subprocess

    code = ("import sys, kfconf.cli.main as m; m.parser(); "
            "import kfconf.local.runner, kfconf.cli.run, kfconf.cli.registry; "
            "print(sorted(x for x in ('torch', 'pyspark', 'ray', 'kserve') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
