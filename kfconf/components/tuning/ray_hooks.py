"""Ray Tune callback and stopper of a local tuning run (imported only when a tuning step runs).

Tune pickles them with the experiment state, so they hold only an id and look the driver-side
`Experiment` (tuning/local.py) up by it.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback, Stopper

from kfconf.components.tuning import local


class Hooks(Callback):
    def __init__(self, exp_id: str) -> None:
        self.exp_id = exp_id

    @property
    def exp(self) -> local.Experiment | None:
        return local._EXPERIMENTS.get(self.exp_id)

    def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        if self.exp:
            self.exp.on_start(trial)

    def on_trial_result(self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any) -> None:
        if self.exp:
            self.exp.on_result(trial, result)

    def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        if self.exp:
            self.exp.on_complete(trial)

    def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        if self.exp:
            self.exp.on_error(trial)


class Goal(Stopper):
    """Stops every trial once the objective's target is reached or the failure budget is spent."""

    def __init__(self, exp_id: str) -> None:
        self.exp_id = exp_id

    def __call__(self, trial_id: str, result: Any) -> bool:
        exp = local._EXPERIMENTS.get(self.exp_id)
        return exp is not None and (exp.stop_all() or exp.stop_trial(trial_id))

    def stop_all(self) -> bool:
        exp = local._EXPERIMENTS.get(self.exp_id)
        return exp is not None and exp.stop_all()
