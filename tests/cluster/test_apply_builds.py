"""Every example × environment × stack build is accepted by the real API server (server-side apply).

For each build: the namespaces the resources need are created (as a GitOps tool or Profile controller
would), then every resource is applied with ``dryRun=All``, then for real — SSA with
``fieldValidation=Strict``, so an unknown field, a wrong type, a failed CEL rule or a bad name fails.
Each stack runs against its own plane (Trainer 2.1 vs 2.3 share an API group); the cases are ordered by
stack so each plane starts once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kfconf.testing.apply import ApplyError
from kfconf.testing.controlplane import ControlPlane

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in REPO.glob("examples/*/ml-project.yaml"))
# latest first (the session plane), 26.03 last (test_controlplane reuses that plane)
BUILD_STACKS = ("kubeflow-latest", "kubeflow-legacy", "kubeflow-26.03")
FIELD_MANAGER = "kfconf-apply-builds"


def environments(project_dir: Path) -> list[str | None]:
    """``None`` (the base, no overlay) and the stem of every ``overlays/*.yaml``."""
    return [None, *sorted(p.stem for p in (project_dir / "overlays").glob("*.yaml"))]


CASES = [
    pytest.param(stack, example, env, id=f"{stack}-{example.name}-{env or 'base'}")
    for stack in BUILD_STACKS
    for example in EXAMPLES
    for env in environments(example)
]


def test_there_are_examples_to_apply() -> None:
    # an empty parameter list would make the test below a silent skip
    assert EXAMPLES, f"no examples/*/ml-project.yaml under {REPO}"
    assert len(CASES) == len(BUILD_STACKS) * sum(len(environments(e)) for e in EXAMPLES)


def apply_order(body: dict[str, Any]) -> int:
    kind = body.get("kind")
    if kind == "Namespace":
        return 0
    if kind == "CustomResourceDefinition":
        return 1
    if (body.get("metadata") or {}).get("namespace") is None:
        return 2  # cluster-scoped (Profile, ClusterTrainingRuntime, ClusterRole …)
    return 3


@pytest.mark.parametrize(("stack", "project_dir", "env"), CASES)
def test_build_output_is_accepted_by_the_api_server(
    control_plane_for: Callable[[str], ControlPlane], stack: str, project_dir: Path, env: str | None
) -> None:
    from kfconf.build import build_project

    result = build_project(project_dir, env, stack)
    resources = list(result.resources)
    assert resources, f"{project_dir.name} env={env or 'base'} stack={stack}: the build produced nothing"
    bodies = sorted((r.body for r in resources), key=apply_order)
    for r in resources:
        assert r.body["kind"] == r.kind and r.body["metadata"]["name"] == r.name
        assert r.body["metadata"].get("namespace") == r.namespace

    plane = control_plane_for(stack)

    # what the resources need before they can exist: their namespaces, and CRDs shipped in the build
    for ns in sorted({r.namespace for r in resources if r.namespace}):
        plane.ensure_namespace(ns)
    crds = [b for b in bodies if b["kind"] == "CustomResourceDefinition"]
    if crds:
        plane.install_crds(extra=crds)

    failures: list[str] = []
    warnings: list[str] = []
    stored: list[dict[str, Any]] = []
    try:
        for phase, dry_run in (("dryRun=All", True), ("apply", False)):
            for body in bodies:
                try:
                    answer = plane.apply(body, dry_run=dry_run, field_manager=FIELD_MANAGER, warnings=warnings)
                except ApplyError as e:
                    failures.append(f"[{phase}] {e}")
                    continue
                meta = answer.get("metadata") or {}
                if not dry_run:
                    stored.append(body)
                    if not meta.get("uid"):
                        failures.append(f"[{phase}] {body['kind']} {meta.get('name')}: stored without a uid")
            if failures:  # no real apply after a failed dry run
                break
    finally:
        # every case is a fresh install: environments share namespaces and names, so what this case
        # stored would turn the next case's apply into an update (immutable fields …). Namespaces stay:
        # without a controller-manager they would never finish terminating.
        for body in reversed(stored):
            if body["kind"] not in ("Namespace", "CustomResourceDefinition"):
                plane.delete(body)

    if warnings:
        print(f"\n{stack} {project_dir.name} {env or 'base'}: API server warnings:\n  " + "\n  ".join(warnings))
    assert not failures, (
        f"{len(failures)} of {len(bodies)} resources refused by kube-apiserver "
        f"({project_dir.name}, env={env or 'base'}, stack={stack}):\n" + "\n".join(failures)
    )
