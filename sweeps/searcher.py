"""``RatioSearch``: Ray Tune's ``OptunaSearch`` with the study kept in the results store.

Three things on top of ``OptunaSearch``:

- **The store's trial attributes** (``results.schema``). Every Optuna trial gets them —
  set while it is still running, since Optuna refuses them once it is told.
- **Exactly-once trials across interruptions.** What to run next is decided from the
  study itself, not from counters: a trial asked for by a driver that died before Tune
  saved its state (a RUNNING trial no live Tune trial owns) is adopted instead of asking
  a new one, and a trial that finished after Tune's last save is not told twice. So a
  resumed sweep ends with exactly the trials it asked for.
- **The confirmation stage** (``sweeps.confirm``): the top ratios on more seeds and pure
  STBP on the same seeds, as trials of the same study with ``stage = "confirm"``, each
  started as soon as it is certain, which can be before the last search trials end.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils.util import unflatten_dict

from results.provenance import TRIAL_HOST_KEYS
from results.schema import CURVE_KEYS, ENERGY_KEYS, PROBE_KEYS, VAL_ACC

from . import budget, internals
from .confirm import Confirmation, identity_of
from .samplers import make_sampler as sampler_named
from .space import RatioSpace
from .spec import Search, SweepSpec

logger = logging.getLogger(__name__)


class _Exhaustive(optuna.samplers.BruteForceSampler):
    """Brute force without ``study.stop()`` when done: outside ``optimize`` that raises.

    Tune's trial count already ends the search.
    """

    def after_trial(self, study, trial, state, values) -> None:
        return None


def make_sampler(search: Search) -> optuna.samplers.BaseSampler:
    """The spec's Optuna sampler, seeded (multivariate TPE unless told otherwise)."""
    if search.space == "lattice" and search.lattice.exhaustive:
        return _Exhaustive(seed=search.seed)
    # Warm starts are enqueued with fixed ratios, so no sampler proposes them (for NSGA-II:
    # they join no generation) unless the spec searches params too, which it samples there.
    fixed = 0 if search.params else len(search.warm_start)
    return sampler_named(search.sampler, search.seed, search.num_trials - fixed)


def stage_of(t) -> str:
    return t.user_attrs.get("stage", "search")


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
        self._confirmation = Confirmation.of(spec)
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
            metric=spec.metrics if multi else VAL_ACC,
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
        self.study.sampler.reseed_rng()

    @property
    def study(self) -> optuna.Study:
        """The sweep's study, as this searcher asks and tells it (with its sampler)."""
        return internals.study(self)

    # ---------------------------------------------------------------- what to run next
    def suggest(self, trial_id: str) -> dict | str | None:
        ot_trial = self._next_trial()
        if ot_trial is None or ot_trial == Searcher.FINISHED:
            return ot_trial
        internals.live_trials(self)[trial_id] = ot_trial
        config = internals.suggest_config(self, ot_trial)
        for key, value in {
            **self._static,
            "trial_id": trial_id,
            "trial_dir": f"{self._results_dir}/trial_{trial_id}",
        }.items():
            ot_trial.set_user_attr(key, value)
        return unflatten_dict(config)

    def _next_trial(self) -> optuna.Trial | str | None:
        """The Optuna trial for the next Tune trial; None: wait; FINISHED: nothing left."""
        if budget.spent():
            return Searcher.FINISHED  # the time budget: no new trial (``sweeps.budget``)
        study = self.study
        trials = study.get_trials(deepcopy=False)
        owned = {t.number for t in internals.live_trials(self).values()}
        orphans = [t for t in trials if t.state == TrialState.RUNNING and t.number not in owned]
        started = [t for t in trials if t.state != TrialState.WAITING]
        search = [t for t in started if stage_of(t) == "search"]
        for t in orphans:
            if stage_of(t) == "search":
                return internals.reopen(study, t)
        if len(search) < self._num_search:
            return study.ask()
        if any(t.state == TrialState.WAITING for t in trials):
            return study.ask()  # a confirmation trial enqueued just before an interruption
        pending = sum(t.state == TrialState.RUNNING for t in search)
        if self._confirmation is None:
            return None if pending else Searcher.FINISHED
        confirms = [t for t in started if stage_of(t) == "confirm"]
        for run in self._confirmation.plan(search, pending, confirms):
            done = [t for t in confirms if identity_of(t) == run.identity]
            if not done:
                study.enqueue_trial(run.params, user_attrs=run.user_attrs())
                return study.ask()
            for t in done:
                if t.state == TrialState.RUNNING and t.number not in owned:
                    return internals.reopen(study, t)
        # The rest of the confirmation stage depends on the search results still running,
        # or (a race) on the round still running.
        racing = self._confirmation.in_rounds
        running = racing and any(t.state == TrialState.RUNNING for t in confirms)
        return None if pending or running else Searcher.FINISHED

    # ---------------------------------------------------------------- results
    def _is_finished(self, ot_trial: optuna.Trial) -> bool:
        return internals.is_finished(self.study, ot_trial)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._last_results[trial_id] = result
        ot_trial = internals.live_trials(self).get(trial_id)
        if ot_trial is None or self._is_finished(ot_trial):
            return  # already told by a driver that died before Tune saved its state
        super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        ot_trial = internals.live_trials(self).get(trial_id)
        if ot_trial is None or trial_id in internals.completed(self):
            return
        if self._is_finished(ot_trial):
            internals.completed(self).add(trial_id)
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
            "val_acc": result.get(VAL_ACC),
            "val_size": result.get("val_size"),
            # Epochs from a checkpoint that predates a key (per-epoch energy) lack it.
            "curve": [{k: e[k] for k in CURVE_KEYS if k in e} for e in result.get("curve", [])],
            "spike_rates": unflatten_dict(
                {k: v for k, v in result.items() if k.startswith("spike_rates/")}
            ).get("spike_rates", {}),
            "seconds": result.get("seconds"),
            "node_id": result.get("node_id"),
            "gpu_ids": list(result.get("gpu_ids", [])),
            **{key: result.get(key) for key in TRIAL_HOST_KEYS},
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
            attrs.update({key: result[key] for key in PROBE_KEYS.values() if key in result})
        return attrs
