"""The PR review action: its script against a local stand-in of the GitHub REST API (one comment, updated in
place, found by its hidden marker), the action's wiring, the pre-commit hooks and the documented workflow."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from kfconf.cli.main import VERBS
from tests.review.conftest import DEMO, DEMO_PROD, REPO_ROOT, Repo, edit_spec, write_project

ACTION = REPO_ROOT / ".github" / "actions" / "kfconf-review"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kfconf_review_script", ACTION / "review.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


review = load_script()


class FakeGitHub:
    """Issue comments of one repository, over HTTP on 127.0.0.1, as the REST API serves them."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.next_id = 1000
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, code: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def body(self) -> Any:
                n = int(self.headers.get("Content-Length", "0"))
                return json.loads(self.rfile.read(n)) if n else None

            def handle_any(self, method: str) -> None:
                fake.requests.append((method, self.path))
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self.reply(401, {"message": "Bad credentials"})
                m = re.match(r"^/repos/acme/ml/issues/(\d+)/comments(\?.*)?$", self.path)
                if m and method == "GET":
                    q = dict(p.split("=") for p in (m.group(2) or "?").lstrip("?").split("&") if "=" in p)
                    per, page = int(q.get("per_page", 30)), int(q.get("page", 1))
                    items = fake.comments.get(int(m.group(1)), [])
                    return self.reply(200, items[(page - 1) * per: page * per])
                if m and method == "POST":
                    fake.next_id += 1
                    c = {"id": fake.next_id, "body": self.body()["body"], "user": {"login": "github-actions[bot]"}}
                    fake.comments.setdefault(int(m.group(1)), []).append(c)
                    return self.reply(201, c)
                m = re.match(r"^/repos/acme/ml/issues/comments/(\d+)$", self.path)
                if m and method == "PATCH":
                    for items in fake.comments.values():
                        for c in items:
                            if c["id"] == int(m.group(1)):
                                c["body"] = self.body()["body"]
                                return self.reply(200, c)
                return self.reply(404, {"message": "Not Found"})

            def do_GET(self) -> None:
                self.handle_any("GET")

            def do_POST(self) -> None:
                self.handle_any("POST")

            def do_PATCH(self) -> None:
                self.handle_any("PATCH")

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub("t0ken")
    yield fake
    fake.close()


def test_upsert_creates_once_then_updates(github: FakeGitHub) -> None:
    # 150 earlier comments: the marker is looked for on every page
    github.comments[7] = [{"id": i, "body": f"lgtm {i}", "user": {"login": "bob"}} for i in range(150)]
    gh = review.GitHub(github.url, "t0ken", "acme/ml")
    action, first = gh.upsert(7, f"{review.MARKER}\nfirst")
    assert action == "created"
    action, again = gh.upsert(7, f"{review.MARKER}\nsecond")
    assert (action, again) == ("updated", first)
    ours = [c for c in github.comments[7] if review.MARKER in c["body"]]
    assert len(ours) == 1 and ours[0]["body"].endswith("second")
    assert len(github.comments[7]) == 151
    assert ("GET", "/repos/acme/ml/issues/7/comments?per_page=100&page=2") in github.requests


def test_compose_fits_the_comment_limit() -> None:
    big = "x" * 50_000
    body = review.compose(review.Step("validate", 1, "e\n" * 40_000), review.Step("check", 1, big),
                          "### kfconf diff\n" + "d" * 30_000, 1, "https://example.invalid/run/1")
    assert len(body) <= review.LIMIT
    assert body.startswith(review.MARKER)
    assert "### kfconf diff" in body  # the diff survives; validate/check output is what gets cut
    small = review.compose(review.Step("validate", 0, "ok"), review.Step("check", 0, "clean"), "no changes", 0, "")
    assert "<details><summary><b>kfconf validate</b> ✅" in small and "<details open>" not in small


@pytest.fixture
def pr_repo(repo: Repo) -> Repo:
    spec = copy.deepcopy(DEMO)
    write_project(repo.root / "demo", spec, {"prod": DEMO_PROD})
    repo.commit("base")
    repo.repo.git.checkout("-q", "-b", "feature")
    edit_spec(repo.root / "demo", lambda d: d["spec"]["training"][0].update(nodes=4))
    repo.commit("four nodes")
    return repo


def run_action(repo: Repo, github: FakeGitHub, tmp: Path, **inputs: str) -> subprocess.CompletedProcess[str]:
    event = tmp / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12}}))
    kfconf_bin = shutil.which("kfconf", path=str(Path(sys.executable).parent)) or "kfconf"
    env = {**os.environ, "KFCONF": kfconf_bin, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/ml",
           "GITHUB_EVENT_PATH": str(event), "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
           "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "42",
           "INPUT_BASE": "main", "INPUT_GITHUB_TOKEN": "t0ken", "INPUT_PATH": ".", "INPUT_COMMENT": "true",
           "INPUT_FAIL_ON_FINDINGS": "true", "INPUT_OUTPUT_DIR": str(tmp / "out")}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return subprocess.run([sys.executable, str(ACTION / "review.py")], cwd=repo.root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_action_script_end_to_end(pr_repo: Repo, github: FakeGitHub, tmp_path: Path) -> None:
    p = run_action(pr_repo, github, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    [comment] = github.comments[12]
    body = comment["body"]
    assert body.startswith(review.MARKER) and len(body) <= review.LIMIT
    assert "kfconf validate</b> ✅" in body and "kfconf check</b> ✅" in body
    assert "### kfconf diff:" in body and "spec.trainer.numNodes" in body and "| prod | **2 → 4 (+2)** |" in body
    assert (tmp_path / "out" / "kfconf.sarif").is_file() and (tmp_path / "summary.md").read_text().strip()

    # a new push: a policy violation now; the same comment is edited, and the job fails
    edit_spec(pr_repo.root / "demo", lambda d: d["spec"]["images"].update(trainer="ghcr.io/acme/train:latest"))
    pr_repo.commit("latest")
    p = run_action(pr_repo, github, tmp_path)
    assert p.returncode == 1
    assert len(github.comments[12]) == 1 and github.comments[12][0]["id"] == comment["id"]
    body = github.comments[12][0]["body"]
    assert "kfconf check</b> ❌" in body and "KF511" in body
    assert re.search(r"^::error file=demo/ml-project\.yaml,line=\d+,col=\d+,title=KF511 image-tag::", p.stdout, re.M)


def test_a_read_only_token_warns_instead_of_failing(pr_repo: Repo, github: FakeGitHub, tmp_path: Path) -> None:
    p = run_action(pr_repo, github, tmp_path, github_token="wrong")
    assert p.returncode == 0
    assert "::warning title=kfconf review::could not post the PR comment (HTTP 401)" in p.stdout
    assert 12 not in github.comments


def test_action_yml_wires_every_input_the_script_reads() -> None:
    action = yaml.safe_load((ACTION / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    run = next(s for s in steps if "review.py" in s.get("run", ""))
    assert '"$GITHUB_ACTION_PATH/review.py"' in run["run"]
    script = (ACTION / "review.py").read_text()
    read = {m.upper().replace("-", "_") for m in re.findall(r'\benv\("([a-z-]+)"', script)}
    given = {k.removeprefix("INPUT_") for k in run["env"]}
    assert read - {"PR_NUMBER"} <= given, read - given
    for key in given:  # each comes from a declared input
        assert key.lower().replace("_", "-") in action["inputs"], key
    assert any(s.get("uses", "").startswith("actions/setup-python@") for s in steps)
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in steps)


def test_pre_commit_hooks() -> None:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"kfconf-validate", "kfconf-check"}
    for h in hooks:
        prog, verb = h["entry"].split()
        assert prog == "kfconf" and verb in VERBS
        files = re.compile(h["files"])
        assert files.search("examples/churn/ml-project.yaml") and files.search("teams/a/overlays/prod.yaml")
        assert not files.search("README.md") and not files.search("src/model.py")


def test_documented_workflow_uses_the_action_with_full_history() -> None:
    text = (REPO_ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    workflows = [yaml.safe_load(b) for b in blocks if "jobs:" in b]
    assert workflows, "docs/ci.md has no example workflow"
    wf = workflows[0]
    assert wf["permissions"]["pull-requests"] == "write"
    steps = next(iter(wf["jobs"].values()))["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    review_step = next(s for s in steps if "kfconf-review" in s.get("uses", ""))
    action = yaml.safe_load((ACTION / "action.yml").read_text())
    assert set(review_step.get("with", {})) <= set(action["inputs"])
