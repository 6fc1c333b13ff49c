"""Training checks: the runtime exists in the stack and can use GPUs when asked, reserved env names,
literal secrets, initializer URI schemes, volumes with one source and clear of the initializers' volumes,
and a dataset/model only where the stack's runtime can fetch one."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from kfconf.components.training.frameworks import ANY_RESERVED
from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import env_checks, image_check, warn
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack

DATASET_SCHEMES = ("hf://", "s3://", "cache://")
MODEL_SCHEMES = ("hf://", "s3://")
# what the initializers add to the trainer pod (render.py): an `initializer` volume at /workspace (Trainer ≥2.2
# jobs) or one emptyDir per kind at /workspace/dataset and /workspace/model (init containers)
INITIALIZER_VOLUMES = frozenset({"initializer", "dataset-initializer", "model-initializer"})
INITIALIZER_PATHS = ("/workspace", "/workspace/dataset", "/workspace/model")


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    for job in project.entries("training"):
        base = project.entry_path("training", job.name)
        yield from image_check(project, (*base, "image"), job.image)
        yield from env_checks(project, (*base, "env"), job.env, ANY_RESERVED)
        for field, schemes in (("dataset", DATASET_SCHEMES), ("model", MODEL_SCHEMES)):
            init = getattr(job, field)
            if init is not None and not init.uri.startswith(schemes):
                p = (*base, field, "uri")
                yield Diagnostic("KF108", f"expected a {field} URI starting with {', '.join(schemes)}, got "
                                 f"{init.uri!r}", project.loc(p), p)
        fetches = job.dataset is not None or job.model is not None
        for i, vol in enumerate(job.volumes):
            p = (*base, "volumes", i)
            if vol.source_count() != 1:
                yield Diagnostic("KF205", f"expected exactly one of claim, configMap, secret or emptyDir, got "
                                 f"{vol.source_count()}", project.loc(p), p)
            if fetches and vol.name in INITIALIZER_VOLUMES:
                yield Diagnostic("KF206", f"expected a volume name other than {', '.join(sorted(INITIALIZER_VOLUMES))} "
                                 f"(the dataset/model initializers' volumes), got {vol.name!r}",
                                 project.loc((*p, "name")), (*p, "name"))
            if fetches and vol.mount_path.rstrip("/") in INITIALIZER_PATHS:
                yield Diagnostic("KF206", f"expected a mount path other than {', '.join(INITIALIZER_PATHS)} (where "
                                 f"the dataset/model initializers write), got {vol.mount_path!r}",
                                 project.loc((*p, "mountPath")), (*p, "mountPath"))
        if not job.command:
            yield warn("KF205", "no command: the runtime's default command runs", project, (*base, "command"))
        if stack is None:
            continue
        runtimes = stack.runtimes.get("training", {})
        runtime = runtimes.get(job.runtime)
        p = (*base, "runtime")
        if runtime is None:
            close = difflib.get_close_matches(job.runtime, sorted(runtimes), n=1)
            yield Diagnostic("KF201", f"expected a training runtime of stack {stack.name} "
                             f"({', '.join(sorted(runtimes))}), got {job.runtime!r}", project.loc(p), p,
                             hint=f"did you mean '{close[0]}'?" if close else None)
            continue
        if job.resources.gpu and not runtime.get("gpu", False):
            rp = (*base, "resources", "gpu")
            yield Diagnostic("KF203", f"expected no GPUs for runtime '{job.runtime}', which cannot use them, got "
                             f"{job.resources.gpu}", project.loc(rp), rp,
                             hint="pick a GPU runtime such as torch-distributed, or set gpu: 0")
        for field in ("dataset", "model"):
            if getattr(job, field) is not None and not runtime.get(f"{field}Initializer",
                                                                    runtime.get("initializers", True)):
                yield Diagnostic("KF305", f"expected a runtime of stack {stack.name} that can fetch a {field}, got "
                                 f"'{job.runtime}': it has no {field}-initializer job and kfconf cannot add one "
                                 f"to its jobs ({', '.join(runtime.get('jobs') or ['node'])})",
                                 project.loc((*base, field)), (*base, field))
