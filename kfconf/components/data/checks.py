"""Data checks: the job file stays in the project, the schedule parses, sparkConf keeps off the
keys the Spark Operator's webhook owns."""

from __future__ import annotations

from collections.abc import Iterator

from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import cron_check, env_checks, image_check, project_file
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack

OPERATOR_KEYS = ("spark.master", "spark.kubernetes.driver.master", "spark.kubernetes.container.image",
                 "spark.kubernetes.driver.container.image", "spark.kubernetes.executor.container.image",
                 "spark.kubernetes.namespace", "spark.kubernetes.authenticate")


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    for job in project.entries("data"):
        base = project.entry_path("data", job.name)
        yield from project_file(project, (*base, "file"), job.file)
        yield from cron_check(project, (*base, "schedule"), job.schedule)
        yield from image_check(project, (*base, "image"), job.image)
        yield from env_checks(project, (*base, "env"), job.env)
        for key in job.conf:
            if key.startswith(OPERATOR_KEYS):
                p = (*base, "conf", key)
                yield Diagnostic("KF206", f"expected a Spark setting the operator does not own, got '{key}'",
                                 project.loc(p), p, hint="the Spark Operator sets this from the spec itself")
