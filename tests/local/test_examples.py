"""Every example runs end to end on CPU: `kfconf run examples/NAME -e dev` (on a copy of the example)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kfconf.local.engines import free_port
from kfconf.local.registry import RegistryStore
from tests.local.conftest import run
from tests.local.test_serving import http, serve

pytestmark = pytest.mark.local

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def copy_example(name: str, dest: Path) -> Path:
    """The example as a user has it: its files and shipped caches, none of a previous run's state."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        if Path(folder).name == ".kfconf":
            return {n for n in names if n != "cache"}
        return {"__pycache__"} & set(names)

    return Path(shutil.copytree(EXAMPLES / name, dest / name, ignore=ignore))


def test_churn_runs_its_nightly_pipeline(tmp_path: Path, spark: Any, ray_rt: Any) -> None:
    root = copy_example("churn", tmp_path)
    ran = run(root, env="dev")  # the default pipeline: nightly
    o = ran.outcomes
    assert ran.report.target == "pipelines/nightly"
    assert {n: x.status for n, x in o.items()} == {
        "prep": "done", "tune": "done", "register": "done", "deploy": "serving", "report": "done"}, ran.text
    assert list((o["prep"].output_dir / "features").glob("*.parquet"))
    assert "output of data/features" in ran.log("tune")  # s3://…/features ← the prep step's output
    best = json.loads((ran.report.run.path / "tune" / "best-trial.json").read_text())
    assert 0.5 < best["objective"] <= 1.0 and set(best["parameters"]) == {"lr", "batch-size"}
    assert best["parameters"]["batch-size"] in ("32", "64")
    trials = json.loads((ran.report.run.path / "tune" / "trials.json").read_text())["trials"]
    assert 1 <= len(trials) <= 4  # dev overlay budget
    ver = RegistryStore.for_project(root).version("churn", "v3")
    assert ver is not None and ver["artifacts"][0]["uri"] == Path(best["outputDir"]).resolve().as_uri()
    assert ver["artifacts"][0]["modelFormatName"] == "pytorch"
    assert "sample predict ok" in o["deploy"].outputs["summary"]
    assert "tuning done" in ran.log("report")
    assert (ran.report.run.path / "run.json").is_file()
    for step in o:
        assert ran.report.run.log_path(step).is_file()


def test_llm_finetune_runs_and_serves_on_cpu(tmp_path: Path) -> None:
    root = copy_example("llm-finetune", tmp_path)
    cmd = [sys.executable, "-m", "kfconf.cli.main", "run", str(root), "-e", "dev", "--once", "--plain",
           "--port", str(free_port())]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "hf://Qwen/Qwen2.5-0.5B ← local cache" in done.stderr
    assert "epoch 1/1 loss=" in done.stderr and "sample predict ok" in done.stderr
    assert done.stdout.strip().endswith("/v2/models/support-llm")
    ver = RegistryStore.for_project(root).version("support-llm", "v1")
    assert ver is not None and ver["artifacts"][0]["modelFormatName"] == "huggingface"
    # the registered model, served again as a user does: stays up until SIGTERM
    port = free_port()
    for _ in serve(root, "serving/support-llm", "-e", "dev", "--port", str(port)):
        base = f"http://127.0.0.1:{port}"
        ids = list(b"Q: refund?\nA:")
        code, v2 = http("POST", f"{base}/v2/models/support-llm/infer", {"inputs": [
            {"name": "ids", "shape": [1, len(ids)], "datatype": "INT64", "data": ids}]})
        assert code == 200 and v2["outputs"][0]["shape"] == [1, len(ids), 256]
        assert v2["outputs"][0]["datatype"] == "FP32"
        code, v1 = http("POST", f"{base}/v1/models/support-llm:predict", {"instances": [ids]})
        assert code == 200 and len(v1["predictions"][0]) == len(ids)
