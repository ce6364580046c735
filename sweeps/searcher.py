"""``RatioSearch``: Ray Tune's ``OptunaSearch`` with the study kept in the results store.

Three things on top of ``OptunaSearch``:

- **The store's trial attributes.** Every Optuna trial gets the contract's user
  attributes — set while it is still running, since Optuna refuses them once it is told.
- **Exactly-once trials across interruptions.** What to run next is decided from the
  study itself, not from counters: a trial asked for by a driver that died before Tune
  saved its state (a RUNNING trial no live Tune trial owns) is adopted instead of asking
  a new one, and a trial that finished after Tune's last save is not told twice. So a
  resumed sweep ends with exactly the trials it asked for.
- **The confirmation stage.** The ``top_k`` ratios of the search (full runs first, then
  by validation accuracy) are re-run with more seeds, as trials of the same study with
  ``stage = "confirm"``. A ratio's runs start as soon as it is certain to be in the top
  ``k``, which can be before the last search trials end.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils.util import unflatten_dict

from .space import RatioSpace
from .spec import Search, SweepSpec
from .summary import ratio_key
from .trainable import CURVE_KEYS

logger = logging.getLogger(__name__)
METRIC = "val_acc"
# Per-sample validation energy of the last reported epoch (biril.energy), stored per trial.
ENERGY_KEYS = (
    "energy_pj_per_sample",
    "sops_per_sample",
    "macs_per_sample",
    "ann_energy_pj_per_sample",
)


class _Exhaustive(optuna.samplers.BruteForceSampler):
    """Brute force without ``study.stop()`` when done: outside ``optimize`` that raises.

    Tune's trial count already ends the search.
    """

    def after_trial(self, study, trial, state, values) -> None:
        return None


def nsga2_population(sampled: int) -> int:
    """NSGA-II's generation size: a third of the trials it samples, 4 to 50.

    Optuna's default of 50 would leave a sweep of tens of trials entirely in the random
    first generation; a third gives a short sweep about three generations to evolve.
    """
    return min(50, max(4, sampled // 3))


def make_sampler(search: Search) -> optuna.samplers.BaseSampler:
    """The spec's Optuna sampler, seeded (multivariate TPE unless told otherwise)."""
    seed = search.seed
    if search.space == "lattice" and search.lattice.exhaustive:
        return _Exhaustive(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if search.sampler == "tpe":
            # constant_liar: concurrent trials do not all land on the same promising point.
            return optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
        if search.sampler == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if search.sampler == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if search.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if search.sampler == "nsga2":
            # Warm starts are enqueued with fixed parameters, so Optuna's NSGA-II never
            # samples them: they join no generation, and only the other trials count.
            sampled = search.num_trials - len(search.warm_start)
            return optuna.samplers.NSGAIISampler(
                population_size=nsga2_population(sampled), seed=seed
            )
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)


def stage_of(t: FrozenTrial) -> str:
    return t.user_attrs.get("stage", "search")


def accuracy_of(t: FrozenTrial) -> float | None:
    """Validation accuracy: the study's first objective, single- or multi-objective.

    (``FrozenTrial.value`` raises on a multi-objective study.)
    """
    return t.values[0] if t.values else None


class RatioSearch(OptunaSearch):
    """Optuna search over the ratio, storing every trial in the sweep's study."""

    def __init__(
        self,
        spec: SweepSpec,
        storage: optuna.storages.BaseStorage,
        results_dir: str,
        warm_start: list[dict[str, Any]],
    ) -> None:
        self._num_search = spec.search.num_trials
        confirm = spec.search.confirm
        self._confirm_top_k = confirm.top_k if confirm else 0
        extra = confirm.seeds if confirm else 0
        self._confirm_seeds = [spec.train.seed + i for i in range(1, extra + 1)]
        self._static = {
            "dataset": spec.dataset,
            "sweep": spec.name,
            "epochs_planned": spec.train.epochs,
        }
        self._results_dir = results_dir.rstrip("/")
        self._last_results: dict[str, dict] = {}
        multi = len(spec.metrics) > 1
        super().__init__(
            space=RatioSpace(spec),
            metric=spec.metrics if multi else METRIC,
            mode=spec.modes if multi else "max",
            points_to_evaluate=warm_start,
            sampler=make_sampler(spec.search),
            study_name=spec.study_name,
            storage=storage,
        )

    def restore(self, checkpoint_path: str) -> None:
        """Tune's resume: the saved state, with the sampler's random stream reseeded.

        The saved random state predates any trial asked after the save; replaying it
        would draw those adopted trials' ratios a second time.
        """
        super().restore(checkpoint_path)
        self._ot_study.sampler.reseed_rng()

    # ---------------------------------------------------------------- what to run next
    def suggest(self, trial_id: str) -> dict | str | None:
        ot_trial = self._next_trial()
        if ot_trial is None or ot_trial == Searcher.FINISHED:
            return ot_trial
        self._ot_trials[trial_id] = ot_trial
        config = self._suggest_from_define_by_run_func(self._space, ot_trial)
        for key, value in {
            **self._static,
            "trial_id": trial_id,
            "trial_dir": f"{self._results_dir}/trial_{trial_id}",
        }.items():
            ot_trial.set_user_attr(key, value)
        return unflatten_dict(config)

    def _next_trial(self) -> optuna.Trial | str | None:
        """The Optuna trial for the next Tune trial; None: wait; FINISHED: nothing left."""
        study = self._ot_study
        trials = study.get_trials(deepcopy=False)
        owned = {t.number for t in self._ot_trials.values()}
        orphans = [t for t in trials if t.state == TrialState.RUNNING and t.number not in owned]
        started = [t for t in trials if t.state != TrialState.WAITING]
        search = [t for t in started if stage_of(t) == "search"]
        for t in orphans:
            if stage_of(t) == "search":
                return optuna.Trial(study, t._trial_id)
        if len(search) < self._num_search:
            return study.ask()
        if any(t.state == TrialState.WAITING for t in trials):
            return study.ask()  # a confirmation trial enqueued just before an interruption
        pending = sum(t.state == TrialState.RUNNING for t in search)
        ratio_of = {t.number: ratio_key(t) for t in search}
        confirms = [t for t in started if stage_of(t) == "confirm"]
        for source, seed in self._confirm_plan(search, pending):
            done = [
                t
                for t in confirms
                if ratio_of.get(t.user_attrs.get("confirms")) == ratio_key(source)
                and t.user_attrs["seed"] == seed
            ]
            if not done:
                study.enqueue_trial(
                    source.params,
                    user_attrs={"stage": "confirm", "seed": seed, "confirms": source.number},
                )
                return study.ask()
            for t in done:
                if t.state == TrialState.RUNNING and t.number not in owned:
                    return optuna.Trial(study, t._trial_id)
        # The rest of the confirmation stage depends on the search results still running.
        return None if pending else Searcher.FINISHED

    def _confirm_plan(
        self, search: list[FrozenTrial], pending: int = 0
    ) -> list[tuple[FrozenTrial, int]]:
        """(source trial, seed) for each confirmation run, the best ratios first.

        With ``pending`` search trials still running, only the ratios ranked above
        ``top_k − pending`` are certain to stay in the top ``k`` (each running trial can
        push out at most one), so their confirmation runs start now, filling slots that
        would otherwise idle until the last search trial ends, and confirm exactly what
        waiting would have.
        """
        keep = self._confirm_top_k - pending
        if keep <= 0:
            return []
        done = [t for t in search if t.state == TrialState.COMPLETE and t.values]
        done.sort(key=lambda t: (bool(t.user_attrs.get("full_run")), accuracy_of(t)), reverse=True)
        best, seen = [], set()
        for t in done:
            key = ratio_key(t)
            if key not in seen:
                seen.add(key)
                best.append(t)
        return [(t, seed) for t in best[:keep] for seed in self._confirm_seeds]

    # ---------------------------------------------------------------- results
    def _is_finished(self, ot_trial: optuna.Trial) -> bool:
        return self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished()

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._last_results[trial_id] = result
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or self._is_finished(ot_trial):
            return  # already told by a driver that died before Tune saved its state
        super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        if self._is_finished(ot_trial):
            self._completed_trials.add(trial_id)
            return
        last = result or self._last_results.get(trial_id) or {}
        for key, value in self.result_attrs(last).items():
            ot_trial.set_user_attr(key, value)
        super().on_trial_complete(trial_id, result=result, error=error)
        self._last_results.pop(trial_id, None)

    def result_attrs(self, result: dict) -> dict[str, Any]:
        """The store's per-trial attributes that come from the trial's last result."""
        planned = self._static["epochs_planned"]
        completed = int(result.get("epoch", 0))
        full_run = completed >= planned and "test_acc" in result
        checkpoint_dir = result.get("checkpoint_dir_name")
        trial_id = result.get("trial_id")
        attrs = {
            "epochs_completed": completed,
            "full_run": full_run,
            "val_acc": result.get(METRIC),
            # Epochs from a checkpoint that predates a key (per-epoch energy) lack it.
            "curve": [{k: e[k] for k in CURVE_KEYS if k in e} for e in result.get("curve", [])],
            "spike_rates": unflatten_dict(
                {k: v for k, v in result.items() if k.startswith("spike_rates/")}
            ).get("spike_rates", {}),
            "seconds": result.get("seconds"),
            "node_id": result.get("node_id"),
            "gpu_ids": list(result.get("gpu_ids", [])),
            "checkpoint": (
                f"{self._results_dir}/trial_{trial_id}/{checkpoint_dir}"
                if checkpoint_dir and trial_id
                else None
            ),
        }
        for key in ENERGY_KEYS:
            if key in result:
                attrs[key] = result[key]
        if full_run:
            attrs["test_acc"] = result["test_acc"]
        return attrs
