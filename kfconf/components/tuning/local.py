"""Run a tuning entry locally with Ray Tune: each Katib algorithm on its Ray Tune equivalent.

Every trial runs the referenced training entry as a subprocess (torchrun, or plain python for one process;
see training/local.py) with the trial's parameters in its args (`--lr 0.003`: a key of the entry's args is
replaced, `${trialParameters.NAME}` in list args substituted, others appended). Metrics are read from the
trial's stdout with Katib's StdOut collector format (`name=value`, Katib's default regex), or from the
metrics file with `metricsCollector: {kind: file}`; each time the objective appears it is reported to Tune
(one `training_iteration`). A trial's value is its best objective over the run (Katib's default metric
strategy). The experiment stops when `objective.target` is reached (goal), after `budget.trials`, with at
most `budget.parallel` trials at once, and fails when more than `budget.failures` trials failed.

    Katib                 Ray Tune
    random                BasicVariantGenerator(random_state)
    grid                  grid_search over the Katib grid (double needs `step`), at most budget.trials points
    tpe                   HyperOptSearch(random_state_seed, gamma, n_initial_points); with n_EI_candidates or
                          prior_weight: OptunaSearch(TPESampler(n_ei_candidates, prior_weight, seed))
    multivariate-tpe      OptunaSearch(TPESampler(multivariate=True, n_startup_trials, n_ei_candidates, seed))
    cmaes                 OptunaSearch(CmaEsSampler(seed, sigma0)); restart_strategy is ignored (Optuna ≥4.4)
    sobol                 OptunaSearch(QMCSampler(qmc_type="sobol", seed))
    bayesianoptimization  OptunaSearch(GPSampler(n_startup_trials=n_initial_points, seed)); base_estimator,
                          acq_func, acq_optimizer have no equivalent (a Gaussian process is used)
    hyperband             HyperBandScheduler(training_iteration, max_t=r_l, reduction_factor=eta) + random;
                          resource_name is set to r_l and trials are stopped by reported iteration
    pbt                   PopulationBasedTraining(training_iteration, perturbation_interval, quantile_fraction=
                          truncation_threshold, resample_probability); population n_population. The trial
                          script saves/resumes state in $KFCONF_CHECKPOINT_DIR
    enas, darts           no local equivalent: KF702
    medianstop            MedianStoppingRule(training_iteration, grace_period=start_step, min_samples_required=
                          min_trials_required)
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import itertools
import json
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.components.training import local as training_local
from kfconf.components.tuning.spec import TuningJob
from kfconf.core.errors import Diagnostic, EngineMissing
from kfconf.local.context import Outcome, RunSession, StepFailed, StepRun
from kfconf.local.env import fmt_value
from kfconf.local.trial import TrialSpec, _decode, run_trial

NO_LOCAL = ("enas", "darts")
OPTUNA = ("multivariate-tpe", "cmaes", "sobol", "bayesianoptimization")
NEEDS = {
    "tpe": ["hyperopt"], "multivariate-tpe": ["optuna"], "cmaes": ["optuna", "cmaes"],
    "sobol": ["optuna", "scipy"], "bayesianoptimization": ["optuna", "scipy", "torch"],
}


def _setting(tj: TuningJob, key: str, default: Any = None, cast: Any = None) -> Any:
    v = tj.algorithm.settings.get(key, default)
    if v is None or cast is None:
        return v
    return cast(v)


def _es_setting(tj: TuningJob, key: str, default: Any, cast: Any = int) -> Any:
    assert tj.early_stopping is not None
    return cast(tj.early_stopping.settings.get(key, default))


def preflight(session: RunSession, tj: TuningJob, planned: Iterable[str] = ()) -> Iterable[Diagnostic]:
    ref = f"tuning/{tj.name}"
    algo = tj.algorithm.name
    if algo in NO_LOCAL:
        what = "neural architecture search with an RL controller" if algo == "enas" else \
            "differentiable architecture search run by Katib's own trial"
        yield session.diag("KF702", f"algorithm {algo} ({what}) has no Ray Tune equivalent; it runs only in "
                           "the cluster", ref, "algorithm", "name",
                           hint="use it with kfconf build/sync, or pick e.g. tpe, random or hyperband to try "
                                "the project locally")
    for mod in NEEDS.get(algo, []):
        if importlib.util.find_spec(mod) is None:
            yield session.diag("KF701", f"algorithm {algo} needs the Python package {mod} locally", ref,
                               "algorithm", "name", hint="pip install 'kfconf[local]'")
    if tj.early_stopping is not None and algo in ("hyperband", "pbt"):
        yield session.diag("KF702", f"early stopping {tj.early_stopping.name} cannot be combined with {algo} "
                           "locally (both are Ray Tune schedulers)", ref, "earlyStopping")
    if algo == "hyperband":
        r_l, res = tj.algorithm.settings.get("r_l"), tj.algorithm.settings.get("resource_name")
        if r_l is None or res is None:
            yield session.diag("KF205", "hyperband needs the settings r_l and resource_name", ref, "algorithm",
                               "settings")
        elif str(res) not in tj.parameters:
            yield session.diag("KF205", f"hyperband resource_name {res!r} is not a parameter", ref, "algorithm",
                               "settings", "resource_name")
    if algo == "grid":
        for name, p in tj.parameters.items():
            if p.type == "double" and p.step is None:
                yield session.diag("KF205", f"grid needs a step for double parameter {name}", ref, "parameters",
                                   name)
    trial = session.project.entry(tj.trial)
    if trial is None or not tj.trial.startswith("training/"):
        yield session.diag("KF201", f"the trial {tj.trial} is not a training entry of the project", ref, "trial")
        return
    yield from training_local.preflight(session, trial, planned)


def fingerprint(session: RunSession, tj: TuningJob, produced: Mapping[str, Path]) -> dict[str, Any]:
    from kfconf.local.dag import entry_spec

    trial = session.project.entry(tj.trial)
    return {"trial": entry_spec(trial), "trialInputs": training_local.fingerprint(session, trial, produced)}


# -- the search space ------------------------------------------------------------------------------
def search_space(tj: TuningJob, notes: list[str]) -> dict[str, Any]:
    from ray import tune

    algo = tj.algorithm.name
    optuna_based = algo in OPTUNA or (algo == "tpe" and _optuna_tpe(tj))
    space: dict[str, Any] = {}
    for name, p in tj.parameters.items():
        if algo == "hyperband" and name == str(tj.algorithm.settings.get("resource_name")):
            continue
        if p.type in ("categorical", "discrete"):
            space[name] = tune.choice(list(p.values or []))
            continue
        lo, hi = float(p.min if p.min is not None else 0), float(p.max if p.max is not None else 1)
        dist = p.distribution or "uniform"
        if p.type == "int":
            lo_i, hi_i = int(lo), int(hi)
            if dist == "logUniform" and lo_i > 0:
                space[name] = tune.lograndint(lo_i, hi_i + 1)
            else:
                space[name] = tune.qrandint(lo_i, hi_i, int(p.step)) if p.step else tune.randint(lo_i, hi_i + 1)
            continue
        if dist in ("normal", "logNormal") and optuna_based:
            notes.append(f"parameter {name}: Optuna samplers have no {dist} distribution; sampling "
                         f"{'log-' if dist == 'logNormal' else ''}uniformly in [{lo}, {hi}]")
            dist = "logUniform" if dist == "logNormal" else "uniform"
        if dist == "uniform":
            space[name] = tune.quniform(lo, hi, p.step) if p.step else tune.uniform(lo, hi)
        elif dist == "logUniform":
            space[name] = tune.qloguniform(lo, hi, p.step) if p.step else tune.loguniform(lo, hi)
        elif dist == "normal":  # Katib: mean at the middle, 6 sigma across [min, max]; clipped to the range
            mu, sd = (lo + hi) / 2, (hi - lo) / 6
            space[name] = tune.qrandn(mu, sd, p.step) if p.step else tune.randn(mu, sd)
        else:  # logNormal: normal in log space between log(min) and log(max)
            notes.append(f"parameter {name}: logNormal sampled log-uniformly in [{lo}, {hi}] (no log-normal "
                         "domain in Ray Tune)")
            space[name] = tune.loguniform(lo, hi)
    return space


def grid_points(tj: TuningJob) -> list[dict[str, Any]]:
    axes: list[list[tuple[str, Any]]] = []
    for name, p in tj.parameters.items():
        if p.type in ("categorical", "discrete"):
            axes.append([(name, v) for v in (p.values or [])])
        elif p.type == "int":
            step = int(p.step or 1)
            axes.append([(name, v) for v in range(int(p.min or 0), int(p.max or 0) + 1, step)])
        else:
            assert p.step is not None and p.min is not None and p.max is not None
            n = math.floor((p.max - p.min) / p.step + 1e-9) + 1
            axes.append([(name, round(p.min + i * p.step, 12)) for i in range(n)])
    return [dict(combo) for combo in itertools.product(*axes)][: tj.budget.trials]


def _optuna_tpe(tj: TuningJob) -> bool:
    s = tj.algorithm.settings
    return "n_EI_candidates" in s or "prior_weight" in s


def _hyperopt_gamma(gamma: float, n: int) -> int:
    return min(math.ceil(gamma * math.sqrt(n)), 25)


def searcher(tj: TuningJob, seed: int | None, notes: list[str]) -> tuple[Any, Any, int]:
    """(search_alg, scheduler, num_samples)."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    algo = tj.algorithm.name
    metric, mode = tj.objective.metric, "max" if tj.objective.goal == "maximize" else "min"
    trials = tj.budget.trials
    scheduler = None
    if tj.early_stopping is not None:
        from ray.tune.schedulers import MedianStoppingRule

        scheduler = MedianStoppingRule(time_attr="training_iteration", metric=metric, mode=mode,
                                       grace_period=_es_setting(tj, "start_step", 4),
                                       min_samples_required=_es_setting(tj, "min_trials_required", 3))
    if algo in ("random", "grid"):
        return BasicVariantGenerator(random_state=seed, max_concurrent=tj.budget.parallel), scheduler, \
            (1 if algo == "grid" else trials)
    if algo == "tpe" and not _optuna_tpe(tj):
        from ray.tune.search.hyperopt import HyperOptSearch

        gamma = _setting(tj, "gamma", 0.25, float)
        n_init = _setting(tj, "n_initial_points", None, int) or _setting(tj, "n_startup_jobs", 20, int)
        return HyperOptSearch(metric=metric, mode=mode, random_state_seed=seed, gamma=gamma,
                              n_initial_points=n_init), scheduler, trials
    if algo in ("tpe", *OPTUNA):
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler: Any
        if algo == "tpe":
            kw: dict[str, Any] = {"seed": seed}
            if "n_EI_candidates" in tj.algorithm.settings:
                kw["n_ei_candidates"] = _setting(tj, "n_EI_candidates", 24, int)
            if "prior_weight" in tj.algorithm.settings:
                kw["prior_weight"] = _setting(tj, "prior_weight", 1.0, float)
            if "gamma" in tj.algorithm.settings:
                kw["gamma"] = functools.partial(_hyperopt_gamma, _setting(tj, "gamma", 0.25, float))
            sampler = optuna.samplers.TPESampler(**kw)
        elif algo == "multivariate-tpe":
            sampler = optuna.samplers.TPESampler(
                multivariate=True, seed=seed, n_startup_trials=_setting(tj, "n_startup_trials", 10, int),
                n_ei_candidates=_setting(tj, "n_ei_candidates", 24, int))
        elif algo == "cmaes":
            if "restart_strategy" in tj.algorithm.settings:
                notes.append("cmaes restart_strategy is not supported by Optuna 5's CmaEsSampler: ignored")
            kw = {"seed": seed}
            if "sigma" in tj.algorithm.settings:
                kw["sigma0"] = _setting(tj, "sigma", None, float)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sampler = optuna.samplers.CmaEsSampler(**kw)
        elif algo == "sobol":
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sampler = optuna.samplers.QMCSampler(qmc_type="sobol", seed=seed)
        else:
            for k in ("base_estimator", "acq_func", "acq_optimizer"):
                if k in tj.algorithm.settings:
                    notes.append(f"bayesianoptimization {k} has no local equivalent (Optuna GPSampler): ignored")
            sampler = optuna.samplers.GPSampler(n_startup_trials=_setting(tj, "n_initial_points", 10, int),
                                                seed=seed)
        return OptunaSearch(metric=metric, mode=mode, sampler=sampler), scheduler, trials
    if algo == "hyperband":
        from ray.tune.schedulers import HyperBandScheduler

        sched: Any = HyperBandScheduler(time_attr="training_iteration", metric=metric, mode=mode,
                                   max_t=_setting(tj, "r_l", 9, int),
                                   reduction_factor=_setting(tj, "eta", 3, float))
        return BasicVariantGenerator(random_state=seed, max_concurrent=tj.budget.parallel), sched, trials
    if algo == "pbt":
        from ray.tune.schedulers import PopulationBasedTraining

        mutations = search_space(tj, [])
        pbt: Any = PopulationBasedTraining(
            time_attr="training_iteration", metric=metric, mode=mode,
            perturbation_interval=_setting(tj, "perturbation_interval", 2, int),
            hyperparam_mutations=mutations,
            quantile_fraction=_setting(tj, "truncation_threshold", 0.2, float),
            resample_probability=_setting(tj, "resample_probability", 0.25, float),
            synch=False)
        population = min(trials, _setting(tj, "n_population", 40, int))
        return BasicVariantGenerator(random_state=seed, max_concurrent=tj.budget.parallel), pbt, population
    raise EngineMissing(f"algorithm {algo} has no local equivalent")  # preflight reports it first


# -- the driver ----------------------------------------------------------------------------------------
@dataclass
class TrialRecord:
    number: int
    trial_id: str
    params: dict[str, Any]
    status: str = "running"
    best: float | None = None
    last: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    error: str = ""
    output_dir: str = ""
    log: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "id": self.trial_id, "parameters": self.params, "status": self.status,
                "objective": self.best, "metrics": self.last, "reports": self.iterations, "error": self.error,
                "outputDir": self.output_dir, "log": self.log}


class Experiment:
    """Driver-side state: the trials as Katib sees them, the goal and the failure budget."""

    def __init__(self, step: StepRun, tj: TuningJob, spec: TrialSpec, total: int) -> None:
        self.step, self.tj, self.spec, self.total = step, tj, spec, total
        self.maximize = tj.objective.goal == "maximize"
        self.trials: dict[str, TrialRecord] = {}
        self.failures = 0
        self.reached: TrialRecord | None = None
        self.lock = threading.Lock()

    def better(self, a: float, b: float | None) -> bool:
        return b is None or (a > b if self.maximize else a < b)

    def best(self) -> TrialRecord | None:
        """The best trial that ran to its end (its output is complete); else the best with a value."""
        ok = [t for t in self.trials.values() if t.best is not None and t.status == "succeeded"] or \
            [t for t in self.trials.values() if t.best is not None and t.status in ("early-stopped", "stopped")]
        ok.sort(key=lambda t: (-(t.best or 0.0) if self.maximize else (t.best or 0.0), t.number))
        return ok[0] if ok else None

    def record(self, trial: Any) -> TrialRecord:
        tid = trial.trial_id
        if tid not in self.trials:
            params = _decode(self.spec, trial.config)
            self.trials[tid] = TrialRecord(
                len(self.trials) + 1, tid, params, output_dir=str(Path(self.spec.trials_dir) / tid),
                log=str(Path(self.spec.logs_dir) / f"{tid}.log"))
        return self.trials[tid]

    def label(self, rec: TrialRecord) -> str:
        return f"trial {rec.number}/{self.total}"

    def describe(self, rec: TrialRecord) -> str:
        metric = self.tj.objective.metric
        shown = " ".join(f"{k}={fmt_value(v)}" for k, v in sorted(rec.params.items()))
        value = f"{metric}={rec.best:.4g}" if rec.best is not None else f"no {metric}"
        return f"{value} ({shown})"

    def on_start(self, trial: Any) -> None:
        with self.lock:
            new = trial.trial_id not in self.trials
            rec = self.record(trial)
            if new:
                self.step.note(f"{self.label(rec)} started: {json.dumps(rec.params, sort_keys=True)}")
            self._detail()

    def on_result(self, trial: Any, result: Mapping[str, Any]) -> None:
        metric = self.tj.objective.metric
        with self.lock:
            rec = self.record(trial)
            rec.params = _decode(self.spec, trial.config)  # PBT changes a trial's config as it goes
            rec.iterations = int(result.get("training_iteration", rec.iterations + 1))
            rec.last = {k: float(v) for k, v in result.items() if k in self.seen_metrics(result)}
            value = result.get(metric)
            if isinstance(value, int | float) and self.better(float(value), rec.best):
                rec.best = float(value)
            target = self.tj.objective.target
            if target is not None and rec.best is not None and self.reached is None and (
                    rec.best >= target if self.maximize else rec.best <= target):
                self.reached = rec
                self.step.event(f"{self.label(rec)} reached the goal {metric}={target}: the experiment ends "
                                "when it finishes")
            self._detail(rec)

    @staticmethod
    def seen_metrics(result: Mapping[str, Any]) -> list[str]:
        internal = {"training_iteration", "time_this_iter_s", "time_total_s", "timestamp", "done", "trial_id",
                    "date", "hostname", "node_ip", "pid", "time_since_restore", "iterations_since_restore",
                    "checkpoint_dir_name", "kfconf_trial", "should_checkpoint"}
        return [k for k, v in result.items() if k not in internal and isinstance(v, int | float)
                and not isinstance(v, bool) and "/" not in k]

    def on_complete(self, trial: Any) -> None:
        with self.lock:
            rec = self.record(trial)
            done = (Path(self.spec.logs_dir) / rec.trial_id / "finished").exists()
            if rec.best is None:
                rec.status = "failed"
                rec.error = "objective never reported"
                self.failures += 1
            else:
                rec.status = "succeeded" if done else ("stopped" if self.reached else "early-stopped")
            self.step.event(f"{self.label(rec)} {rec.status}: {self.describe(rec)}")
            self._detail()

    def on_error(self, trial: Any) -> None:
        with self.lock:
            rec = self.record(trial)
            rec.status = "failed"
            err = ""
            with contextlib.suppress(Exception):
                err = str(trial.error_file or "")
                err = Path(err).read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1] if err else ""
            rec.error = err[:300]
            self.failures += 1
            self.step.event(f"{self.label(rec)} failed: {rec.error or 'see its log'} (log: {rec.log})")
            self._detail()

    def stop_trial(self, trial_id: str) -> bool:
        """Once the goal is reached, the other trials stop; the one that reached it runs to its end (Katib
        reads a trial's metrics when it finished, so the trial that met the goal completes and keeps its
        model)."""
        return self.reached is not None and self.reached.trial_id != trial_id

    def stop_all(self) -> bool:
        if self.failures > self.tj.budget.failures:
            return True
        return self.reached is not None and self.reached.status != "running"

    def _detail(self, rec: TrialRecord | None = None) -> None:
        running = sum(t.status == "running" for t in self.trials.values())
        finished = sum(t.status != "running" for t in self.trials.values())
        best = self.best()
        text = f"{finished}/{self.total} trials done, {running} running"
        if best is not None:
            text += f" · best {self.tj.objective.metric}={best.best:.4g}"
        if rec is not None and rec.last:
            total = training_local.total_epochs(self.step.session.project.entry(self.tj.trial), rec.params)
            text += f" · {self.label(rec)}: " + training_local.describe(rec.last, total, ())
        self.step.detail(text)


_EXPERIMENTS: dict[str, Experiment] = {}
"""Driver-side objects by id: Tune pickles its callbacks and stopper, which keep only the id
(see tuning/ray_hooks.py)."""


def run(step: StepRun, tj: TuningJob) -> Outcome:
    session = step.session
    job = session.project.entry(tj.trial)
    if job is None:
        raise StepFailed(f"the trial {tj.trial} does not exist")
    shared = step.dir / "workspace"
    for kind, note in training_local.prepare_workspace(step, job, shared).items():
        step.note(f"{kind}: {note}", show=True)
    launcher = training_local.launcher(step, job, shared)
    notes: list[str] = []
    step.detail("starting Ray" if not session.options.ray_address else f"Ray at {session.options.ray_address}")
    t_ray = time.time()
    ray = session.engines.ray()
    step.note(f"Ray ready in {time.time() - t_ray:.1f}s")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    from ray import tune

    seed = _setting(tj, "random_state", None, int)
    search_alg, scheduler, num_samples = searcher(tj, seed, notes)
    fixed: dict[str, Any] = {}
    if tj.algorithm.name == "grid":
        points = grid_points(tj)
        space: dict[str, Any] = {"__grid__": tune.grid_search(points)}
        total = len(points)
    else:
        space = search_space(tj, notes)
        total = num_samples
        if tj.algorithm.name == "hyperband":
            fixed[str(tj.algorithm.settings["resource_name"])] = tj.algorithm.settings["r_l"]
    for n in notes:
        step.note(n, show=True)
    trials_dir = step.output_dir / "trials"
    logs_dir = step.dir / "trials"
    trials_dir.mkdir(parents=True, exist_ok=True)
    logs_dir.mkdir(parents=True, exist_ok=True)
    metrics_file = tj.metrics_collector.path if tj.metrics_collector.kind == "file" else None
    if tj.metrics_collector.kind == "file" and not metrics_file:
        metrics_file = "/var/log/katib/metrics.log"
    spec = TrialSpec(launcher, str(trials_dir), str(logs_dir), str(shared), tj.objective.metric,
                     {k: p.model_dump() for k, p in tj.parameters.items()}, fixed,
                     metrics_file=metrics_file, secrets=sorted(session.secrets.used),
                     checkpoints=tj.algorithm.name == "pbt")
    exp = Experiment(step, tj, spec, total)
    exp_id = f"{session.run.id}/{step.name}"
    _EXPERIMENTS[exp_id] = exp
    from kfconf.components.tuning.ray_hooks import Goal, Hooks

    hooks, goal = Hooks(exp_id), Goal(exp_id)
    if session.options.ray_address:
        cpus = float(ray.cluster_resources().get("CPU", 1))
    else:
        cpus = float(session.engines.ray_cpus)
    per_trial = max(0.01, round(cpus / max(1, tj.budget.parallel), 2))
    parallel = tj.budget.parallel
    step.note(f"{tj.algorithm.name} → {type(search_alg).__name__}"
              + (f" + {type(scheduler).__name__}" if scheduler is not None else "")
              + f"; {total} trials, {parallel} at a time, {per_trial} CPU each; metric {tj.objective.metric} "
                f"({'max' if exp.maximize else 'min'})", show=True)
    trainable = tune.with_resources(tune.with_parameters(run_trial, spec=spec), {"cpu": per_trial})
    metric_mode: dict[str, Any] = {} if _sets_metric(search_alg, scheduler) else {
        "metric": tj.objective.metric, "mode": "max" if exp.maximize else "min"}
    from ray.tune.search import Searcher

    if isinstance(search_alg, Searcher):  # a BasicVariantGenerator limits concurrency itself
        metric_mode["max_concurrent_trials"] = parallel
    tuner = tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler, num_samples=num_samples,
                                    reuse_actors=False, **metric_mode),
        run_config=tune.RunConfig(name="experiment", storage_path=str((step.dir / "ray").resolve()), stop=goal,
                                  callbacks=[hooks], verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)),
    )
    t0 = time.time()
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\..*")
            tuner.fit()
    finally:
        _EXPERIMENTS.pop(exp_id, None)
        leftovers = reap_trials(logs_dir)
        if leftovers:
            step.note(f"stopped {leftovers} trial process group(s) left by stopped trials")
    for rec in exp.trials.values():  # trials Tune ended with the experiment (goal reached, budget spent)
        if rec.status == "running":
            rec.status = "stopped" if rec.best is not None else "cancelled"
    rows = [t.to_json() for t in sorted(exp.trials.values(), key=lambda t: t.number)]
    best = exp.best()
    result = {
        "algorithm": tj.algorithm.name, "objective": tj.objective.model_dump(), "trials": rows,
        "failed": exp.failures, "goalReached": exp.reached is not None, "seconds": round(time.time() - t0, 3),
        "best": best.to_json() if best else None,
    }
    for d in (step.dir, step.output_dir):
        (d / "trials.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n",
                                       encoding="utf-8")
        (d / "best-trial.json").write_text(json.dumps(result["best"], indent=2, sort_keys=True, default=str)
                                           + "\n", encoding="utf-8")
    if exp.failures > tj.budget.failures:
        raise StepFailed(f"{exp.failures} trial(s) failed, more than budget.failures={tj.budget.failures}"
                         + (f"; best so far {exp.describe(best)}" if best else ""))
    if best is None:
        raise StepFailed(f"no trial reported {tj.objective.metric}")
    summary = f"best {exp.describe(best)} · trial {best.number} of {len(rows)}"
    if exp.reached is not None:
        summary += " · goal reached"
    step.note(summary)
    return Outcome("done", {"best": best.to_json(), "trials": len(rows), "failed": exp.failures,
                            "goalReached": exp.reached is not None, "modelDir": best.output_dir,
                            "summary": summary}, step.output_dir)


def reap_trials(logs_dir: Path) -> int:
    """Stop the process groups of trials whose Ray actor went away without stopping them."""
    import signal

    import psutil

    n = 0
    for f in logs_dir.glob("*/pids.json"):
        with contextlib.suppress(OSError, ValueError):
            for pid, created in json.loads(f.read_text(encoding="utf-8")):
                try:
                    proc = psutil.Process(pid)
                    if abs(proc.create_time() - created) > 0.01 or not proc.is_running():
                        continue
                except psutil.Error:
                    continue
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                    n += 1
    return n


def _sets_metric(search_alg: Any, scheduler: Any) -> bool:
    """Searchers/schedulers built with metric and mode must not get them again from TuneConfig."""
    return any(obj is not None and getattr(obj, "metric", None) is not None for obj in (search_alg, scheduler))

