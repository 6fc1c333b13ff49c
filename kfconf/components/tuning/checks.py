"""Tuning checks: Katib's webhook rules, on the spec line instead of at admission time."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from kfconf.core.errors import Diagnostic
from kfconf.spec.checks import warn
from kfconf.spec.project import Project
from kfconf.spec.stacks import Stack

# algorithm → settings the suggestion service accepts (Katib v0.19 validators)
SETTINGS: dict[str, frozenset[str]] = {
    "random": frozenset({"random_state"}),
    "tpe": frozenset({"gamma", "prior_weight", "n_EI_candidates", "random_state"}),
    "grid": frozenset({"random_state"}),
    "multivariate-tpe": frozenset({"n_startup_trials", "n_ei_candidates", "random_state"}),
    "bayesianoptimization": frozenset({"base_estimator", "n_initial_points", "acq_func", "acq_optimizer",
                                       "random_state"}),
    "cmaes": frozenset({"random_state", "sigma", "restart_strategy"}),
    "sobol": frozenset(),
    "hyperband": frozenset({"resource_name", "r_l", "eta"}),
    "pbt": frozenset({"suggestion_trial_dir", "n_population", "truncation_threshold", "resample_probability"}),
    "enas": frozenset({"controller_hidden_size", "controller_temperature", "controller_tanh_const",
                       "controller_entropy_weight", "controller_baseline_decay", "controller_learning_rate",
                       "controller_skip_target", "controller_skip_weight", "controller_train_steps",
                       "controller_log_every_steps"}),
    "darts": frozenset({"num_epochs", "w_lr", "w_lr_min", "w_momentum", "w_weight_decay", "w_grad_clip",
                        "alpha_lr", "alpha_weight_decay", "batch_size", "num_workers", "init_channels",
                        "print_step", "num_nodes", "stem_multiplier"}),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "hyperband": ("resource_name", "r_l"),
    "pbt": ("suggestion_trial_dir", "n_population", "truncation_threshold"),
}
ENUMS: dict[str, tuple[str, ...]] = {
    "base_estimator": ("GP", "RF", "ET", "GBRT"),
    "acq_func": ("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
    "acq_optimizer": ("auto", "sampling", "lbfgs"),
    "restart_strategy": ("ipop", "bipop", "none"),
}
MEDIANSTOP = frozenset({"min_trials_required", "start_step"})


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _settings(project: Project, base: tuple[Any, ...], algo: str, settings: dict[str, Any],
              params: dict[str, Any]) -> Iterator[Diagnostic]:
    allowed = SETTINGS[algo]
    for key, value in settings.items():
        p = (*base, "algorithm", "settings", key)
        if key not in allowed:
            yield Diagnostic("KF101", f"unknown setting '{key}' for algorithm {algo}", project.loc(p), p,
                             hint=f"{algo} takes: {', '.join(sorted(allowed)) or 'no settings'}")
            continue
        if key in ENUMS and str(value) not in ENUMS[key]:
            yield Diagnostic("KF105", f"expected one of {', '.join(ENUMS[key])}, got {value!r}", project.loc(p), p)
        n = _num(value)
        if key == "gamma" and (n is None or not 0 < n < 1):
            yield Diagnostic("KF104", f"expected 0 < gamma < 1, got {value!r}", project.loc(p), p)
        if key in ("random_state", "n_initial_points", "n_startup_trials", "n_ei_candidates") and (n is None or n < 0):
            yield Diagnostic("KF104", f"expected {key} ≥ 0, got {value!r}", project.loc(p), p)
        if key == "n_population" and (n is None or n < 5):
            yield Diagnostic("KF104", f"expected n_population ≥ 5, got {value!r}", project.loc(p), p)
        if key in ("r_l", "eta") and (n is None or n <= 0):  # hyperband's service validator
            yield Diagnostic("KF104", f"expected {key} > 0, got {value!r}", project.loc(p), p)
        if key == "truncation_threshold" and (n is None or not 0 <= n <= 1):
            yield Diagnostic("KF104", f"expected 0 ≤ truncation_threshold ≤ 1, got {value!r}", project.loc(p), p)
        if key == "resource_name" and value not in params:
            yield Diagnostic("KF201", f"expected one of the tuning parameters ({', '.join(params)}), got {value!r}",
                             project.loc(p), p)
    for key in REQUIRED.get(algo, ()):
        if key not in settings:
            p = (*base, "algorithm", "settings")
            yield Diagnostic("KF102", f"missing required setting '{key}' for algorithm {algo}", project.loc(p), p)


def _grid_size(params: dict[str, Any]) -> float:
    size = 1.0
    for prm in params.values():
        if prm.type in ("categorical", "discrete"):
            size *= len(prm.values or [])
        elif prm.min is not None and prm.max is not None:
            step = prm.step or (1 if prm.type == "int" else None)
            if step is None:
                return math.inf
            size *= math.floor((prm.max - prm.min) / step) + 1
    return size


def check(project: Project, stack: Stack | None) -> Iterator[Diagnostic]:
    for job in project.entries("tuning"):
        base = project.entry_path("tuning", job.name)
        params = job.parameters
        for name, prm in params.items():
            p = (*base, "parameters", name)
            if "{" in name or "}" in name:  # the webhook: trial parameter names without braces
                yield Diagnostic("KF108", f"expected a parameter name without '{{' or '}}', got {name!r}",
                                 project.loc(p), p)
            if prm.type in ("int", "double"):
                if prm.min is None or prm.max is None:
                    yield Diagnostic("KF102", f"expected min and max for a {prm.type} parameter", project.loc(p), p)
                elif prm.min >= prm.max:
                    yield Diagnostic("KF104", f"expected min < max, got min {prm.min:g} and max {prm.max:g}",
                                     project.loc(p), p)
                if prm.values is not None:
                    yield Diagnostic("KF205", f"expected no values for a {prm.type} parameter (use min/max)",
                                     project.loc((*p, "values")), (*p, "values"))
                if prm.type == "int" and any(v is not None and not float(v).is_integer()
                                             for v in (prm.min, prm.max, prm.step)):
                    yield Diagnostic("KF103", "expected whole numbers for an int parameter", project.loc(p), p)
                if prm.distribution in ("logUniform", "logNormal") and prm.min is not None and prm.min <= 0:
                    yield Diagnostic("KF104", f"expected min > 0 for a {prm.distribution} distribution, got "
                                     f"{prm.min:g}", project.loc(p), p)
            else:
                if not prm.values:
                    yield Diagnostic("KF102", f"expected a non-empty list of values for a {prm.type} parameter",
                                     project.loc(p), p)
                if prm.min is not None or prm.max is not None or prm.step is not None:
                    yield Diagnostic("KF205", f"expected no min, max or step for a {prm.type} parameter",
                                     project.loc(p), p)
                if prm.type == "discrete" and prm.values and any(_num(v) is None for v in prm.values):
                    yield Diagnostic("KF103", "expected numbers in the values of a discrete parameter",
                                     project.loc(p), p)
        yield from _settings(project, base, job.algorithm.name, job.algorithm.settings, params)
        algo = job.algorithm.name
        numeric = [n for n, prm in params.items() if prm.type in ("int", "double")]
        if algo == "cmaes" and len(numeric) < 2:
            p = (*base, "algorithm", "name")
            yield Diagnostic("KF205", f"expected at least 2 int/double parameters for cmaes, got {len(numeric)}",
                             project.loc(p), p)
        if algo == "grid":
            for n, prm in params.items():
                if prm.type == "double" and prm.step is None:
                    p = (*base, "parameters", n)
                    yield Diagnostic("KF102", "expected a step for a double parameter of a grid search",
                                     project.loc(p), p)
            size = _grid_size(params)
            if size < job.budget.trials:
                p = (*base, "budget", "trials")
                yield Diagnostic("KF104", f"expected at most {int(size)} trials (the grid's size), got "
                                 f"{job.budget.trials}", project.loc(p), p)
        if algo in ("enas", "darts"):
            p = (*base, "algorithm", "name")
            yield Diagnostic("KF305", f"expected a hyperparameter search algorithm, got {algo}, a neural architecture "
                             "search that needs a nasConfig, which kfconf does not model yet", project.loc(p), p)
        b = job.budget
        if b.parallel > b.trials:
            p = (*base, "budget", "parallel")
            yield Diagnostic("KF104", f"expected parallel ≤ trials ({b.trials}), got {b.parallel}", project.loc(p), p)
        if b.failures > b.trials:
            p = (*base, "budget", "failures")
            yield Diagnostic("KF104", f"expected failures ≤ trials ({b.trials}), got {b.failures}", project.loc(p), p)
        if job.objective.metric in job.objective.additional:
            p = (*base, "objective", "additional")
            yield Diagnostic("KF205", f"expected additional metrics other than the objective "
                             f"'{job.objective.metric}'", project.loc(p), p)
        if job.early_stopping is not None:
            for key, value in job.early_stopping.settings.items():
                p = (*base, "earlyStopping", "settings", key)
                if key not in MEDIANSTOP:
                    yield Diagnostic("KF101", f"unknown medianstop setting '{key}'", project.loc(p), p,
                                     hint=f"medianstop takes: {', '.join(sorted(MEDIANSTOP))}")
                    continue
                # the medianstop service: min_trials_required > 0, start_step ≥ 1 (whole numbers)
                least = 1
                n = _num(value)
                if n is None or not float(n).is_integer() or n < least:
                    yield Diagnostic("KF104", f"expected a whole number ≥ {least} for {key}, got {value!r}",
                                     project.loc(p), p)
        trial = project.entry_fields(job.trial, "args", "command")
        if trial is None:
            continue
        used = set(trial.args) if isinstance(trial.args, dict) else {
            a.lstrip("-").split("=")[0] for a in trial.args if a.startswith("-")}
        used |= {a.split("${trialParameters.")[1].split("}")[0] for a in trial.command
                 if "${trialParameters." in a}
        for name in params:
            if name not in used:
                p = (*base, "parameters", name)
                yield Diagnostic("KF204", f"expected a parameter the trial {job.trial} uses, got '{name}'",
                                 project.loc(p), p,
                                 hint=f"the trial's args are: {', '.join(sorted(used)) or 'none'}; "
                                 "a parameter sets the arg of the same name")
        if job.metrics_collector.kind == "file" and not job.metrics_collector.path:
            p = (*base, "metricsCollector")
            yield Diagnostic("KF102", "expected a path for a file metrics collector", project.loc(p), p)
        if b.trials > 1000:
            yield warn("KF104", f"{b.trials} trials is a large budget", project, (*base, "budget", "trials"))
