"""kfconf review for a pull request: validate, check and diff, then one PR comment, updated in place.

Run by action.yml (inputs arrive as INPUT_* environment variables); standard library only, so it runs
on any runner Python. The comment is found again by a hidden marker and edited, never duplicated.
Exit status: 1 when validate or check found errors (unless fail-on-findings is false) or when the
diff could not run; 0 otherwise. A diff with changes is not a failure: it is what the PR is for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "<!-- kfconf-review -->"
LIMIT = 65_536
"""GitHub's limit on a comment body, in characters."""
SLACK = 200


@dataclass
class Step:
    name: str
    code: int
    text: str


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"INPUT_{name.upper().replace('-', '_')}", default).strip()


def kfconf(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [os.environ.get("KFCONF", "kfconf"), *args]
    print("+ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(p.stdout)  # annotations (::error file=…) reach the workflow log from here
    sys.stderr.write(p.stderr)
    return p


def fenced(text: str, budget: int) -> str:
    """TEXT in a code block of at most BUDGET characters."""
    body = text.strip().replace("```", "`\u200b``")
    room = max(0, budget - 40)
    if len(body) > room:
        body = body[:room].rsplit("\n", 1)[0] + "\n… (cut; see the job log)"
    return f"```\n{body}\n```\n"


def section(title: str, step: Step, budget: int, open_: bool) -> str:
    status = "✅" if step.code == 0 else "❌" if step.code == 1 else "⚠️ could not run"
    head = f"<details{' open' if open_ else ''}><summary><b>{title}</b> {status}</summary>\n\n"
    tail = "\n</details>\n\n"
    return head + fenced(step.text or "(no output)", budget - len(head) - len(tail)) + tail


def compose(validate: Step, check: Step, diff_markdown: str, diff_code: int, run_url: str) -> str:
    """The comment: marker, title, validate and check (collapsed when clean), then the diff report."""
    head = f"{MARKER}\n## kfconf review\n\n"
    foot = f"\n<sub>[workflow run]({run_url})</sub>\n" if run_url else ""
    budget = LIMIT - len(head) - len(foot) - len(diff_markdown) - SLACK
    parts = [section("kfconf validate", validate, max(budget // 2, 600), validate.code != 0)]
    parts.append(section("kfconf check", check, max(budget - len(parts[0]), 600), check.code != 0))
    if diff_code == 2:
        parts.append("**kfconf diff could not run**:\n\n")
    body = head + "".join(parts) + diff_markdown + foot
    if len(body) > LIMIT:  # only when validate/check output was unusually large: cut them, keep the diff
        body = head + fenced(validate.text + "\n" + check.text, 2000) + diff_markdown + foot
    return body[:LIMIT]


# ------------------------------------------------------------------------------------------ GitHub

class GitHub:
    def __init__(self, api: str, token: str, repo: str) -> None:
        self.api, self.token, self.repo = api.rstrip("/"), token, repo

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.api}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def find_comment(self, pr: int) -> int | None:
        page = 1
        while True:
            items = self.call("GET", f"/repos/{self.repo}/issues/{pr}/comments?per_page=100&page={page}")
            for c in items or []:
                if MARKER in (c.get("body") or ""):
                    return int(c["id"])
            if not items or len(items) < 100:
                return None
            page += 1

    def upsert(self, pr: int, body: str) -> tuple[str, int]:
        """Edit the comment that carries the marker, or create it: ('updated' | 'created', comment id)."""
        found = self.find_comment(pr)
        if found is not None:
            self.call("PATCH", f"/repos/{self.repo}/issues/comments/{found}", {"body": body})
            return "updated", found
        made = self.call("POST", f"/repos/{self.repo}/issues/{pr}/comments", {"body": body})
        return "created", int(made["id"])


def pr_number() -> int | None:
    given = env("pr-number")
    if given:
        return int(given)
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event and Path(event).is_file():
        data = json.loads(Path(event).read_text(encoding="utf-8"))
        number = (data.get("pull_request") or {}).get("number") or (data.get("issue") or {}).get("number")
        return int(number) if number else None
    return None


def main() -> int:
    path = env("path", ".")
    out = Path(env("output-dir", ".kfconf-review"))
    out.mkdir(parents=True, exist_ok=True)
    envs = [a for e in env("environments").split() for a in ("-e", e)]
    base = env("base")
    if not base:
        print("::error title=kfconf review::no base revision: set the `base` input", flush=True)
        return 1

    v = kfconf("validate", path, *envs)
    validate = Step("validate", v.returncode, v.stderr + v.stdout)

    policy = ["--policy", env("policy")] if env("policy") else []
    c = kfconf("check", path, *policy, *envs, "-o", "github", "--report", f"text={out / 'check.txt'}",
               "--report", f"json={out / 'check.json'}", "--report", f"sarif={out / 'kfconf.sarif'}")
    check_text = (out / "check.txt").read_text(encoding="utf-8") if (out / "check.txt").is_file() else c.stderr
    check = Step("check", c.returncode, check_text)

    run_url = ""
    if os.environ.get("GITHUB_SERVER_URL") and os.environ.get("GITHUB_RUN_ID"):
        run_url = (f"{os.environ['GITHUB_SERVER_URL']}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/"
                   f"{os.environ['GITHUB_RUN_ID']}")
    # what validate and check may take of the comment; the diff gets the rest
    probe = compose(validate, check, "", 0, run_url)
    room = max(LIMIT - len(probe) - SLACK, 2_000)
    d = kfconf("diff", path, "--base", base, "--merge-base", *envs, "-o", "markdown",
               "--output-file", str(out / "diff.md"), "--full-output", str(out / "diff.full.md"),
               "--max-length", str(room))
    diff_md = (out / "diff.md").read_text(encoding="utf-8") if (out / "diff.md").is_file() else ""
    full = str(out / "diff.full.md")
    if f"`{full}`" in diff_md and run_url:  # on a runner, the full diff lives on as the workflow's artifact
        diff_md = diff_md.replace(f"`{full}`", f"`diff.full.md` of the [kfconf-review artifact]({run_url})")
    if d.returncode == 2 and not diff_md:
        diff_md = fenced(d.stderr, 4_000)
    body = compose(validate, check, diff_md, d.returncode, run_url)
    (out / "comment.md").write_text(body, encoding="utf-8")

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(body.replace(MARKER, "") + "\n")

    pr = pr_number()
    if env("comment", "true") == "true" and pr is not None:
        gh = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), env("github-token"),
                    os.environ.get("GITHUB_REPOSITORY", ""))
        try:
            action, cid = gh.upsert(pr, body)
            print(f"kfconf review: {action} comment {cid} on #{pr}")
        except urllib.error.HTTPError as e:
            # a pull request from a fork gets a read-only token: say so, do not fail the review for it
            print(f"::warning title=kfconf review::could not post the PR comment (HTTP {e.code}); the report is "
                  "in the job summary", flush=True)
    failed = (validate.code != 0 or check.code != 0) and env("fail-on-findings", "true") == "true"
    return 1 if failed or d.returncode == 2 else 0


if __name__ == "__main__":
    sys.exit(main())
