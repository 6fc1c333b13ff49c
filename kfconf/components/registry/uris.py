"""Where models are: the storage URI a registry entry registers, and the URIs serving uses.

The convention (also in the stacks' `components.modelRegistry.artifactRoot` comment):
- `from: <uri>` registers that URI as given.
- `from: training/T` registers T's `output:` when it is set, else `<artifactRoot>/<namespace>/<project>/T`;
  the training code is expected to leave its final model there.
- `from: tuning/X` registers the location of X's trial (`trial: training/T`, the rule above): Katib
  trials run the training code, and the registered artifact is what that code leaves at its output. Set
  the trial's `output:` (or write only an improving model there) when trials run in parallel.
Serving refers to a registered model as `model-registry://<model>/<version>`, the scheme of the Model
Registry's KServe storage initializer (ClusterStorageContainer `model-registry-storage-initializer`),
which resolves it to the artifact URI at pod start; without a version it takes the newest.
"""

from __future__ import annotations

from dataclasses import dataclass

from kfconf.core.source import PathT
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack
from kfconf.spec.types import is_uri

DEFAULT_ROOT = "s3://mlpipeline/models"
SCHEME = "model-registry://"


@dataclass(frozen=True)
class Location:
    uri: str
    spec_path: PathT | None
    """The spec value that decided the URI, or None when the stack's artifactRoot convention did."""


def artifact_root(stack: Stack) -> str:
    return str(stack.component("modelRegistry").get("artifactRoot", DEFAULT_ROOT)).rstrip("/")


def artifact_location(project: Project, stack: Stack, ref: str) -> Location:
    """The storage URI of what `ref` (a URI, `training/T` or `tuning/X`) produces."""
    if is_uri(ref):
        return Location(ref, None)
    kind, _, name = ref.partition("/")
    if kind == "tuning":
        tuning = project.entry(ref)
        trial = getattr(tuning, "trial", None)
        if trial is None:
            raise KeyError(ref)
        return artifact_location(project, stack, trial)
    if kind != "training":
        raise ValueError(f"expected a URI, training/NAME or tuning/NAME, got {ref!r}")
    job = project.entry(ref)
    if job is None:
        raise KeyError(ref)
    if job.output:
        return Location(job.output, (*project.entry_path("training", name), "output"))
    return Location(f"{artifact_root(stack)}/{project.namespace}/{project.name}/{name}", None)


def model_uri(project: Project, ref: str, version: str | None = None) -> str:
    """`registry/churn` → `model-registry://churn/v3` (the entry's version, or `version` when given)."""
    entry = project.entry(ref) if ref.startswith("registry/") else None
    if entry is None:
        raise KeyError(f"expected a registry entry reference such as registry/NAME, got {ref!r}")
    return f"{SCHEME}{entry.name}/{version or entry.version}"


def latest_uri(project: Project, ref: str) -> str:
    """`registry/churn` → `model-registry://churn`: the storage initializer serves the newest version."""
    entry = project.entry(ref) if ref.startswith("registry/") else None
    if entry is None:
        raise KeyError(f"expected a registry entry reference such as registry/NAME, got {ref!r}")
    return f"{SCHEME}{entry.name}"


def storage_uri(project: Project, stack: Stack, ref: str) -> Location:
    """What KServe's storageUri is for a serving `model:` value: registry refs through the Model
    Registry, training/tuning refs by their output location, URIs as given."""
    if ref.startswith("registry/"):
        return Location(model_uri(project, ref), None)
    return artifact_location(project, stack, ref)
