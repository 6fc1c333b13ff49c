"""A pipeline's container step, run without a container engine.

Decision: a container step whose `command` is a plain program found on this machine (`python` is this
Python) runs here as a subprocess, in the project's source folder, with its env and the outputs of the
steps before it (`KFCONF_INPUT_<STEP>`); the log says that the image was not used. A step without a
`command` (it relies on the image's entrypoint) or whose program is not installed here is reported as
skipped with the reason, and the steps after it still run (it produced no output).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from kfconf.local import procs
from kfconf.local.context import Outcome, StepFailed, StepRun
from kfconf.local.env import PathMap, expand

PYTHONS = ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}")


def program(cmd: str) -> str | None:
    if cmd in PYTHONS:
        return sys.executable
    return shutil.which(cmd)


def fingerprint(session: Any, c: Any, produced: Any) -> dict[str, Any]:
    return {}


def run(step: StepRun, c: Any) -> Outcome:
    session = step.session
    image = session.project.image(c.image) or c.image
    if not c.command:
        return Outcome("skipped", message=f"image {image}: no command in the spec, and its entrypoint needs "
                                          "a container engine")
    exe = program(c.command[0])
    if exe is None:
        return Outcome("skipped", message=f"{c.command[0]!r} (from image {image}) is not installed here")
    pm = PathMap()
    pm.add(session.image_workdir, session.source_dir)
    values = session.template_values(step.params)
    argv = [exe, *pm.map_all([expand(a, values) for a in [*c.command[1:], *c.args]])]
    env_vals, missing = session.secrets.resolve_env(c.env)
    for m in missing:
        step.warn(f"not set: {m}")
    env = session.step_env(step, {k: expand(v, values) for k, v in env_vals.items()})
    step.note(f"image {image} not used (no container engine): running {' '.join(argv)}", show=True)
    rc = procs.run(argv, env=env, cwd=Path(session.source_dir), log=step.log, cancel=session.cancel)
    if rc != 0:
        raise StepFailed(f"{c.command[0]} exited with {rc}")
    return Outcome("done", {"summary": "ran locally without its image"}, step.output_dir)
