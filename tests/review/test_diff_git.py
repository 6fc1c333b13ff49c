"""`kfconf diff` on real git repositories: the churn example changed between two commits, the work tree,
no change, a shallow clone, and the Markdown cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import git
import pytest

from tests.review.conftest import Repo, copy_churn, edit_spec, kfconf, read_spec

SPARK_OLD = "ghcr.io/acme/churn-spark:1.4.2"
SPARK_NEW = "ghcr.io/acme/churn-spark:1.5.0"
SHADOW = {"name": "churn-shadow", "model": "s3://acme-ml/churn/shadow", "format": "sklearn",
          "replicas": {"min": 1, "max": 2}, "resources": {"cpu": 1, "memory": "2Gi"}}


def _entry(doc: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    return next(e for e in doc["spec"][section] if e["name"] == name)


def _base(doc: dict[str, Any]) -> None:
    """Pin the values the test changes, so it does not depend on the example's current numbers."""
    _entry(doc, "training", "churn-model")["nodes"] = 2
    _entry(doc, "serving", "churn")["canary"] = {"percent": 10}
    doc["spec"]["images"]["spark"] = SPARK_OLD
    assert any(n["name"] == "explore" for n in doc["spec"]["notebooks"])


def _head(doc: dict[str, Any]) -> None:
    _entry(doc, "training", "churn-model")["nodes"] = 4            # training nodes 2 → 4
    _entry(doc, "serving", "churn")["canary"] = {"percent": 100}   # canary 10% → 100%: a rollout
    doc["spec"]["images"]["spark"] = SPARK_NEW                     # an image tag
    doc["spec"]["serving"].append(dict(SHADOW))                     # add an InferenceService
    doc["spec"]["notebooks"] = [n for n in doc["spec"]["notebooks"] if n["name"] != "explore"]  # remove a notebook


@pytest.fixture
def churn_repo(repo: Repo) -> Repo:
    project = copy_churn(repo.root / "examples" / "churn")
    edit_spec(project, _base)
    repo.commit("base")
    edit_spec(project, _head)
    repo.commit("head")
    return repo


def _by_id(report: dict[str, Any], env: str) -> dict[str, dict[str, Any]]:
    section = next(s for s in report["sections"] if s["environment"] == env)
    return {c["id"]: c for c in section["changes"]}


def test_reports_exactly_the_changes_the_gpu_delta_and_the_rollout(churn_repo: Repo) -> None:
    r = kfconf("diff", "--base", "HEAD~1", "--head", "HEAD", "-e", "base", "-o", "json", cwd=churn_repo.root)
    assert r.code == 1, r.err
    report = json.loads(r.out)
    changes = _by_id(report, "base")
    ns = read_spec(churn_repo.root / "examples" / "churn")["spec"]["profile"]["namespace"]

    train = changes[f"TrainJob/{ns}/churn-model"]
    assert [(f["path"], f["before"], f["after"]) for f in train["fields"]] == [("spec.trainer.numNodes", 2, 4)]
    assert train["forcesReplace"] is True  # a TrainJob's trainer is immutable

    isvc = changes[f"InferenceService/{ns}/churn"]
    assert [(f["before"], f["after"]) for f in isvc["fields"]] == [(10, 100)]
    assert isvc["fields"][0]["path"].endswith("trafficPercent")

    spark = changes[f"ScheduledSparkApplication/{ns}/features"]
    assert [(f["path"], f["before"], f["after"]) for f in spark["fields"]] == [
        ("spec.template.image", SPARK_OLD, SPARK_NEW)]

    assert {c["id"] for c in changes.values() if c["op"] == "add"} == {f"InferenceService/{ns}/churn-shadow"}
    assert {c["id"] for c in changes.values() if c["op"] == "remove"} == {f"Notebook/{ns}/explore"}
    # Everything else that changed embeds one of those entries: the Katib trial is the training entry, the
    # pipeline's steps embed the workloads (a new content-named PipelineVersion), and its schedule names it.
    explicit = {f"TrainJob/{ns}/churn-model", f"InferenceService/{ns}/churn",
                f"ScheduledSparkApplication/{ns}/features", f"InferenceService/{ns}/churn-shadow",
                f"Notebook/{ns}/explore"}
    for rid, c in changes.items():
        if rid in explicit:
            continue
        assert rid.split("/")[0] in {"Experiment", "PipelineVersion", "CronJob"}, rid
        assert c["op"] == "change", rid
    trial = changes[f"Experiment/{ns}/churn-hpo"]
    assert [(f["before"], f["after"]) for f in trial["fields"]] == [(2, 4)]

    impact = report["impact"]
    rollouts = [(t["id"], t["before"], t["after"]) for t in impact["rollouts"]]
    assert rollouts == [(f"InferenceService/{ns}/churn", 10, 100)]
    assert any(r["id"] == f"TrainJob/{ns}/churn-model" and (r["before"], r["after"]) == (2, 4)
               for r in impact["replicas"])
    # GPU delta from the spec itself: the job's nodes × GPUs, plus each parallel tuning trial (the same job)
    spec = read_spec(churn_repo.root / "examples" / "churn")
    gpu = _entry(spec, "training", "churn-model")["resources"]["gpu"]
    parallel = _entry(spec, "tuning", "churn-hpo")["budget"]["parallel"]
    assert int(impact["requested"]["delta"]["gpu"]) == (4 - 2) * gpu * (1 + parallel)
    assert impact["added"] == [f"InferenceService/{ns}/churn-shadow"]
    assert impact["removed"] == [f"Notebook/{ns}/explore"]


def test_text_report_flags_rollout_replace_and_gpus(churn_repo: Repo) -> None:
    r = kfconf("diff", "--base", "HEAD~1", "--head", "HEAD", "-e", "base", cwd=churn_repo.root)
    assert r.code == 1
    assert "\033[" not in r.out  # not a terminal: no colour
    lines = r.out.splitlines()
    assert any(line.startswith("ROLLOUT") and "10% → 100%" in line for line in lines)
    assert any(line.startswith("REPLACE") and "TrainJob/" in line for line in lines)
    header = lines.index(next(line for line in lines if line.strip().startswith("GPUs")))
    assert lines[header + 1].split()[0] == "base" and "(+" in lines[header + 1]
    assert "kfconf.dev/content-hash" not in r.out and "kfconf.dev/source" not in r.out


def test_every_environment_by_default(churn_repo: Repo) -> None:
    r = kfconf("diff", "--base", "HEAD~1", "--head", "HEAD", "-o", "json", cwd=churn_repo.root)
    assert r.code == 1
    envs = {s["environment"] for s in json.loads(r.out)["sections"]}
    overlays = {p.stem for p in (churn_repo.root / "examples/churn/overlays").glob("*.yaml")}
    assert envs == {"base", *overlays}


def test_no_change_exits_0(churn_repo: Repo) -> None:
    r = kfconf("diff", "--base", "HEAD", "--head", "HEAD", cwd=churn_repo.root)
    assert r.code == 0, r.out + r.err
    assert "no changes" in r.out
    same = kfconf("diff", "--base", "HEAD", cwd=churn_repo.root)  # the clean work tree equals HEAD
    assert same.code == 0, same.out + same.err


def test_a_moved_spec_line_is_not_a_change(churn_repo: Repo) -> None:
    spec = churn_repo.root / "examples/churn/ml-project.yaml"
    text = spec.read_text()
    spec.write_text("# a comment that moves every line down\n\n" + text.replace("kind: MLProject", "kind:   MLProject"))
    churn_repo.commit("cosmetic")
    r = kfconf("diff", "--base", "HEAD~1", "--head", "HEAD", "-o", "json", cwd=churn_repo.root)
    assert r.code == 0, r.out  # source annotations and content hashes moved; nothing in the cluster did
    assert json.loads(r.out)["affected"] == ["examples/churn"]


def _index_state(repo: Repo) -> tuple[bytes, int, str]:
    index = Path(repo.repo.git_dir) / "index"
    return index.read_bytes(), index.stat().st_mtime_ns, repo.repo.head.commit.hexsha


def test_work_tree_is_compared_without_touching_it(churn_repo: Repo) -> None:
    project = churn_repo.root / "examples/churn"
    edit_spec(project, lambda d: _entry(d, "serving", "churn").update(replicas={"min": 1, "max": 9}))
    (project / "overlays" / "canary.yaml").write_text("apiVersion: kfconf.dev/v1alpha1\nkind: Overlay\n")
    before_files = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    status = churn_repo.repo.git.status("--porcelain")  # (git status itself may refresh the index: first)
    before_index = _index_state(churn_repo)
    r = kfconf("diff", "--base", "HEAD", "-o", "json", cwd=churn_repo.root)
    assert r.code == 1, r.err
    report = json.loads(r.out)
    assert report["head"]["commit"] is None
    sections = {s["environment"]: s for s in report["sections"]}
    assert "base" in sections
    assert sections["canary"]["note"] == "new environment"  # an untracked overlay is part of the work tree
    assert {c["op"] for c in sections["canary"]["changes"]} == {"add"}
    assert any(f["path"] == "spec.predictor.maxReplicas" and f["after"] == 9
               for s in report["sections"] for c in s["changes"] for f in c.get("fields", []))
    assert _index_state(churn_repo) == before_index  # no index refresh, no checkout
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before_files
    assert churn_repo.repo.git.status("--porcelain") == status
    assert "?? examples/churn/overlays/canary.yaml" in status


def test_shallow_clone_missing_base_is_a_clear_exit_2(churn_repo: Repo, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git.Repo.clone_from(f"file://{churn_repo.root}", clone, depth=1)
    r = kfconf("diff", "--base", "HEAD~1", cwd=clone)
    assert r.code == 2
    assert "not in this clone" in r.err and "shallow" in r.err and "fetch-depth: 0" in r.err
    assert "Traceback" not in r.err
    missing = kfconf("diff", "--base", "origin/no-such-branch", cwd=clone)
    assert missing.code == 2 and "fetch" in missing.err


def test_merge_base_ignores_what_landed_on_main_meanwhile(churn_repo: Repo) -> None:
    g = churn_repo.repo.git
    g.checkout("-q", "-b", "feature")
    edit_spec(churn_repo.root / "examples/churn", lambda d: _entry(d, "serving", "churn").update(
        replicas={"min": 1, "max": 7}))
    churn_repo.commit("feature change")
    g.checkout("-q", "main")
    edit_spec(churn_repo.root / "examples/churn", lambda d: d["spec"]["notebooks"].append(
        {"name": "scratch", "image": "jupyter-scipy", "resources": {"cpu": 1, "memory": "1Gi"}}))
    churn_repo.commit("main moves on")
    r = kfconf("diff", "--base", "main", "--head", "feature", "--merge-base", "-e", "base", "-o", "json",
               cwd=churn_repo.root)
    assert r.code == 1
    ids = {c["id"] for s in json.loads(r.out)["sections"] for c in s["changes"]}
    assert not any("scratch" in i for i in ids)  # main's own change is not this branch's
    direct = kfconf("diff", "--base", "main", "--head", "feature", "-e", "base", "-o", "json", cwd=churn_repo.root)
    assert any("scratch" in c["id"] for s in json.loads(direct.out)["sections"] for c in s["changes"])


def test_markdown_is_cut_at_65536_characters_with_the_full_diff_in_a_file(repo: Repo, tmp_path: Path) -> None:
    project = copy_churn(repo.root / "examples" / "churn")
    repo.commit("base")

    def many(doc: dict[str, Any]) -> None:
        for i in range(90):
            doc["spec"]["serving"].append({**SHADOW, "name": f"shadow-{i:03d}",
                                           "model": f"s3://acme-ml/churn/shadow-{i:03d}"})
    edit_spec(project, many)
    repo.commit("ninety more models")
    out = tmp_path / "out" / "diff.md"
    r = kfconf("diff", "--base", "HEAD~1", "--head", "HEAD", "-e", "base", "-o", "markdown",
               "--output-file", str(out), cwd=repo.root)
    assert r.code == 1, r.err
    md = out.read_text(encoding="utf-8")
    full_path = out.with_name("diff.full.md")
    assert len(md) <= 65_536
    assert len(md) > 60_000  # the budget is used, not thrown away
    assert "Diff truncated" in md and f"`{full_path}`" in md
    assert md.startswith("### kfconf diff:")
    assert "| GPUs |" in md.split("\n", 8)[3]  # the impact summary survives the cut
    full = full_path.read_text(encoding="utf-8")
    assert len(full) > 65_536 and "Diff truncated" not in full
    for i in range(90):
        assert f"InferenceService/team-growth/shadow-{i:03d}" in full
    shown = sum(f"<code>+ InferenceService/team-growth/shadow-{i:03d}</code>" in md for i in range(90))
    assert 0 < shown < 90
    assert f"showing {md.count('<details>')} of" in md
    assert md.count("<details>") == md.count("</details>")  # no block cut in half
    assert str(full_path) in r.err


def test_no_git_repository_is_a_usage_error(tmp_path: Path) -> None:
    copy_churn(tmp_path / "churn")
    r = kfconf("diff", "--base", "HEAD", "churn", cwd=tmp_path)
    assert r.code == 2 and "not inside a git repository" in r.err


def test_colour_only_when_asked_or_on_a_terminal(churn_repo: Repo) -> None:
    r = kfconf("diff", "--base", "HEAD~1", "--head", "HEAD", "-e", "base", "--color", "always", cwd=churn_repo.root)
    assert "\033[" in r.out
