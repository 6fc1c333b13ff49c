"""CLI start-up: `kfconf validate` of one small project, against `python -c "import pydantic"`.

Both are fresh processes of the same interpreter, with bytecode compiled as a wheel install has it; the
ratio says what kfconf adds on top of the one library it cannot start without. A second, in-process probe
lists which heavy modules a validate run imported — there should be none (the Kubernetes client, torch,
pyspark, ray, protobufs load only in the commands that need them).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bench import harness, workspace

TARGET = harness.le(3)
HEAVY = ("kubernetes", "torch", "pyspark", "ray", "google.protobuf", "kfp", "kserve", "git", "pandas",
         "numpy", "jsonschema", "fastjsonschema", "ruamel", "prometheus_client")

_PROBE = """
import json, sys
from kfconf.cli.main import main
code = main(["validate", sys.argv[1]])
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy, "modules": len(sys.modules)}}))
"""


def kfconf_command() -> list[str]:
    script = Path(sys.executable).parent / "kfconf"
    if script.is_file():
        return [str(script)]
    found = shutil.which("kfconf")
    return [found] if found else [sys.executable, "-m", "kfconf.cli.main"]


def small_project() -> Path:
    """The smallest generated project (fewest spec lines) of the shared set."""
    projects = workspace.projects(20)
    return min(projects, key=lambda p: len((p / "ml-project.yaml").read_text().splitlines()))


def run(quick: bool) -> list[dict[str, Any]]:
    reps = 3 if quick else 15
    project = small_project()
    cmd = [*kfconf_command(), "validate", str(project)]
    peer = [sys.executable, "-c", "import pydantic"]
    mem: dict[str, float] = {}
    # as installed: a wheel install compiles bytecode, so both sides run with it (this sandbox sets
    # PYTHONDONTWRITEBYTECODE; the compiled files go to the run's scratch folder, not the source tree)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workspace.root() / "pycache")

    def kfconf() -> harness.Proc:
        proc = harness.run(cmd, env=env)
        mem["kfconf"] = proc.max_rss_mb
        return proc

    def floor() -> harness.Proc:
        proc = harness.run(peer, env=env)
        mem["peer"] = proc.max_rss_mb
        return proc

    models_cmd = [sys.executable, "-c", "import kfconf.spec.validate"]

    def models() -> harness.Proc:
        return harness.run(models_cmd, env=env)

    k, f = harness.compare(kfconf, floor, reps, warmup=1)
    m, f2 = harness.compare(models, floor, reps, warmup=1)
    probe = harness.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), str(project)])
    info = json.loads(probe.stdout.decode().strip().splitlines()[-1])
    if info["code"] != 0:
        raise RuntimeError(f"kfconf validate {project} exited {info['code']}")
    heavy = info["heavy"]
    return [harness.row("CLI start-up: kfconf validate (one small project)", k,
                        'python -c "import pydantic"', f, TARGET, unit="s", memory_mb=round(mem["kfconf"], 1),
                        peer_memory_mb=round(mem["peer"], 1), heavy_modules=heavy, modules=info["modules"],
                        note=("heavy modules loaded: " + ", ".join(heavy)) if heavy else "no heavy module loaded"),
            harness.row("start-up share of the spec models: python -c 'import kfconf.spec.validate'", m,
                        'python -c "import pydantic"', f2, "", unit="s",
                        note="informational: what building kfconf's pydantic models costs before any work")]
