"""The content-addressed build cache: a hit returns exactly the cold build's output without loading the
project; any change to an input misses; broken entries rebuild; old entries are evicted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kfconf.build import build_project
from kfconf.build import cache as cache_mod
from kfconf.build.cache import KEEP_PER_SLOT, BuildCache
from kfconf.build.emit import render_tree

SPEC = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: a@example.com}
spec:
  profile: {namespace: team-demo, owner: a@example.com}
  images: {trainer: ghcr.io/acme/demo:1.0}
  data:
    - {name: prep, file: jobs/prep.py, image: ghcr.io/acme/spark:1.0}
  training:
    - name: model
      image: trainer
      command: [python, train.py]
      resources: {cpu: 2, memory: 4Gi}
"""
DEV = """\
apiVersion: kfconf.dev/v1alpha1
kind: Overlay
spec:
  training:
    - {name: model, resources: {cpu: 1, memory: 2Gi}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    d = tmp_path / "demo"
    (d / "overlays").mkdir(parents=True)
    (d / "ml-project.yaml").write_text(SPEC)
    (d / "overlays" / "dev.yaml").write_text(DEV)
    return d


def test_hit_returns_the_cold_build_without_loading(project: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cold = build_project(project, "dev", cwd=tmp_path)
    want = render_tree(cold.resources)
    cache = BuildCache(tmp_path / "cache")
    first = build_project(project, "dev", cwd=tmp_path, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    assert first.files == want and not first.cached

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("a hit must not load, validate or render")

    monkeypatch.setattr(cache_mod, "build_project", boom)
    monkeypatch.setattr(cache_mod, "load_project", boom)
    second = build_project(project, "dev", cwd=tmp_path, cache=cache)
    assert second.cached and cache.hits == 1
    assert second.files == want
    assert [d.render() for d in second.diagnostics] == [d.render() for d in cold.diagnostics]
    assert second.diagnostics  # the missing jobs/prep.py warning is replayed from the entry
    assert [r.body for r in second.resources] == [r.body for r in cold.resources]
    assert [(r.id, r.origin, r.component, r.entry) for r in second.resources] == \
        [(r.id, r.origin, r.component, r.entry) for r in cold.resources]
    monkeypatch.undo()
    assert second.project.name == "demo" and second.stack.name == cold.stack.name  # loaded on first use


@pytest.mark.parametrize("change", ["spec", "overlay", "new-file", "other-env"])
def test_any_input_change_misses(project: Path, tmp_path: Path, change: str) -> None:
    cache = BuildCache(tmp_path / "cache")
    before = build_project(project, "dev", cwd=tmp_path, cache=cache)
    if change == "spec":
        (project / "ml-project.yaml").write_text(SPEC.replace("demo:1.0", "demo:2.0"))
    elif change == "overlay":
        (project / "overlays" / "dev.yaml").write_text(DEV.replace("cpu: 1", "cpu: 3"))
    elif change == "new-file":  # the file the spec names now exists: its warning goes away
        (project / "jobs").mkdir()
        (project / "jobs" / "prep.py").write_text("print('prep')\n")
    else:
        (project / "overlays" / "prod.yaml").write_text(DEV)
    after = build_project(project, "dev", cwd=tmp_path, cache=cache)
    assert cache.misses == 2 and not after.cached
    fresh = build_project(project, "dev", cwd=tmp_path)
    assert after.files == render_tree(fresh.resources)
    if change in ("spec", "overlay"):
        assert after.files != before.files
    if change == "new-file":
        assert len(after.diagnostics) < len(before.diagnostics)


def test_env_stack_and_check_are_part_of_the_key(project: Path, tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    keys = {cache.key(project, env, stack, tmp_path, check)
            for env in (None, "dev") for stack in (None, "kubeflow-26.03") for check in (True, False)}
    assert len(keys) == 8
    assert cache.key(project, "dev", None, tmp_path) == cache.key(project, "dev", None, tmp_path)


def test_broken_entry_rebuilds(project: Path, tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    first = build_project(project, "dev", cwd=tmp_path, cache=cache)
    key = cache.key(project, "dev", None, tmp_path)
    entry = tmp_path / "cache" / key[:2] / f"{key}.json"
    entry.write_text(entry.read_text()[:50])  # a torn write from an old crash
    again = build_project(project, "dev", cwd=tmp_path, cache=cache)
    assert not again.cached and again.files == first.files
    assert json.loads(entry.read_text())["key"] == key  # rewritten whole
    assert build_project(project, "dev", cwd=tmp_path, cache=cache).cached


def test_each_slot_keeps_its_last_entries(project: Path, tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    for i in range(KEEP_PER_SLOT + 2):
        (project / "ml-project.yaml").write_text(SPEC.replace("demo:1.0", f"demo:{i}.0"))
        build_project(project, "dev", cwd=tmp_path, cache=cache)
    entries = [p for p in (tmp_path / "cache").glob("??/*.json") if not p.name.endswith(".resources.json")]
    assert len(entries) == KEEP_PER_SLOT


def test_cli_all_builds_every_project_and_env(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for name in ("a", "b"):
        d = root / "team" / name
        (d / "overlays").mkdir(parents=True)
        (d / "ml-project.yaml").write_text(SPEC.replace("name: demo", f"name: {name}")
                                           .replace("team-demo", f"team-{name}"))
        (d / "overlays" / "dev.yaml").write_text(DEV)
        (d / "overlays" / "prod.yaml").write_text(DEV.replace("cpu: 1", "cpu: 4"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "kfconf.cli.main", "build", str(root), "--all", "-o", str(out),
           "--cache-dir", str(tmp_path / "cache")]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    trees = sorted(str(k.parent.relative_to(out)) for k in out.rglob("kustomization.yaml"))
    assert trees == ["team/a/dev", "team/a/prod", "team/b/dev", "team/b/prod"]
    assert "wrote 4 trees" in p.stderr
    single = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "build", str(root / "team" / "a"), "-e", "prod",
                             "-o", str(tmp_path / "single")], capture_output=True, text=True, cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    same = {p.relative_to(tmp_path / "single"): p.read_text() for p in (tmp_path / "single").rglob("*") if p.is_file()}
    got = {p.relative_to(out / "team/a/prod"): p.read_text() for p in (out / "team/a/prod").rglob("*") if p.is_file()}
    assert same == got
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0 and "wrote 0 trees" in again.stderr and "4 unchanged" in again.stderr
    stream = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "build", str(root / "team" / "a"), "-e", "prod",
                             "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, cwd=tmp_path)
    plain = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "build", str(root / "team" / "a"), "-e", "prod"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert stream.returncode == plain.returncode == 0 and stream.stdout == plain.stdout


def test_cli_all_reports_every_broken_project(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for name, spec in (("good", SPEC), ("bad", SPEC.replace("cpu: 2", "cpu: -2"))):
        d = root / name
        d.mkdir(parents=True)
        (d / "ml-project.yaml").write_text(spec.replace("team-demo", f"team-{name}"))
    p = subprocess.run([sys.executable, "-m", "kfconf.cli.main", "build", str(root), "--all", "-o",
                        str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 1
    assert "bad/ml-project.yaml:" in p.stderr and "Traceback" not in p.stderr
    assert (tmp_path / "out" / "good" / "base" / "kustomization.yaml").is_file()
    assert not (tmp_path / "out" / "bad").exists()


def test_resources_of_an_entry_evicted_after_the_hit_are_rebuilt(project: Path, tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    cold = build_project(project, "dev", cwd=tmp_path, cache=cache)
    hit = build_project(project, "dev", cwd=tmp_path, cache=cache)
    assert hit.cached
    for f in (tmp_path / "cache").glob("??/*.resources.json"):
        f.unlink()  # a concurrent build evicted the entry between the hit and the first use of its resources
    assert [r.body for r in hit.resources] == [r.body for r in cold.resources]
