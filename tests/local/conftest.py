"""Fixtures of the local-engine tests: one Spark session and one Ray runtime for the whole test session.

Runs made in-process (`run_target`) find the shared engines already started and reuse them without
stopping them; the session fixtures stop them at the end. Every server listens on 127.0.0.1 only and
every test stops what it starts.
"""

from __future__ import annotations

import importlib.util
import io
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_missing = [m for m in ("pyspark", "torch", "ray", "kserve", "sklearn", "optuna", "hyperopt")
            if importlib.util.find_spec(m) is None]
if _missing:
    pytest.skip(f"the [local] extra is not installed ({', '.join(_missing)})", allow_module_level=True)

from kfconf.build.pipeline import load_project  # noqa: E402
from kfconf.local.context import Options  # noqa: E402
from kfconf.local.engines import Engines  # noqa: E402
from kfconf.local.runner import RunReport, run_target  # noqa: E402

HEAD = """\
apiVersion: kfconf.dev/v1alpha1
kind: MLProject
metadata: {name: demo, owner: a@example.com}
spec:
  profile: {namespace: team-a}
"""


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    d = tmp_path_factory.mktemp("engines")
    e = Engines(log_dir=d, state_dir=d)
    yield e
    e.close()


@pytest.fixture(scope="session")
def spark(engines: Engines) -> Any:
    return engines.spark()


@pytest.fixture(scope="session")
def ray_rt(engines: Engines) -> Any:
    return engines.ray()


def write_project(root: Path, spec: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ml-project.yaml").write_text(HEAD + textwrap.indent(textwrap.dedent(spec).strip() + "\n", "  "),
                                          encoding="utf-8")
    for name, text in (files or {}).items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def load(root: Path, env: str | None = None) -> tuple[Any, Any]:
    project, stack, _ = load_project(root, env, None, root)
    return project, stack


class Ran:
    def __init__(self, report: RunReport, text: str) -> None:
        self.report = report
        self.text = text

    @property
    def outcomes(self) -> dict[str, Any]:
        return self.report.outcomes

    def log(self, step: str) -> str:
        return self.report.run.log_path(step).read_text(encoding="utf-8")


def run(root: Path, target: str | None = None, env: str | None = None, **options: Any) -> Ran:
    project, stack = load(root, env)
    options.setdefault("keep_serving", False)
    options.setdefault("port", 0)
    stream = io.StringIO()
    report = run_target(project, stack, target, env=env, options=Options(**options), stream=stream, live=False,
                        out=io.StringIO())
    return Ran(report, stream.getvalue())
