"""Run a pipeline locally: its steps as a DAG on this machine (kfconf/local/dag.py).

Entry steps (`run: training/NAME` …) run their component's local runner; container steps run their
command without the image when it is a plain program here, else they are skipped with the reason
(kfconf/local/container.py). Step `params` override the entry's args (`--key value`) and fill
`{{ params.NAME }}` templates with the pipeline's `parameters`; `{{ run.id }}` and `{{ run.date }}` too.
"""

from __future__ import annotations

from collections.abc import Iterable

from kfconf.components.pipelines.spec import Pipeline
from kfconf.core.errors import Diagnostic
from kfconf.local.context import Outcome, RunSession, StepFailed, StepRun


def preflight(session: RunSession, pipe: Pipeline, planned: Iterable[str] = ()) -> Iterable[Diagnostic]:
    """A pipeline inside a pipeline is not a step kind; `kfconf run pipelines/NAME` plans the steps."""
    return ()


def run(step: StepRun, pipe: Pipeline) -> Outcome:
    """A pipeline as one step of another run: run its steps (same run folder, progress and engines)."""
    from kfconf.local.dag import run_dag
    from kfconf.local.runner import plan

    nodes = plan(step.session.project, f"pipelines/{pipe.name}")
    outcomes = run_dag(step.session, nodes)
    bad = {n: o for n, o in outcomes.items() if not o.ok}
    if bad:
        raise StepFailed("; ".join(f"{n}: {o.message or o.status}" for n, o in bad.items()))
    return Outcome("done", {"steps": {n: o.status for n, o in outcomes.items()},
                            "summary": f"{len(outcomes)} steps"})

