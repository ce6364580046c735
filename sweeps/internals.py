"""Every private name of Ray Tune and Optuna the sweeps use, in one place.

Checked against Ray 2.60.0 and Optuna 5.0.0 (``CHECKED_AGAINST``); ``tests/test_internals.py``
exercises each one on the installed versions and fails, naming it, when a release moves it.
Everything else in the project uses the two libraries' public APIs.

Why these have no public replacement:

- ``RatioSearch`` extends Tune's ``OptunaSearch`` (its storage, define-by-run space and
  save/restore) and decides itself which Optuna trial a Tune trial gets; ``OptunaSearch``
  keeps its study, its Tune-trial -> Optuna-trial map, its finished set and its space
  converter in private attributes.
- An Optuna trial another driver asked for (adopted on resume) is reopened by its storage
  id, which ``FrozenTrial`` and ``Trial`` keep private; ``Trial(study, trial_id)`` is how
  Optuna itself builds the trial ``Study.ask`` returns.
- ``Tuner.restore`` takes no run config: the callbacks (this run's progress display) and the
  stopper (its time budget) are set on the restored tuner's run config, which only its
  internal tuner holds.
- Tune's storage logger, silenced in trial actors, lives in ``ray.train._internal``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used, so trial actors reading the logger name skip them
    import optuna
    from optuna.trial import FrozenTrial
    from ray.tune.search.optuna import OptunaSearch

CHECKED_AGAINST = {"ray": "2.60.0", "optuna": "5.0.0"}
# One "checkpoint created" line per epoch per trial comes from this logger.
TUNE_STORAGE_LOGGER = "ray.train._internal.storage"


def study(searcher: OptunaSearch) -> optuna.Study:
    """The study ``OptunaSearch`` asks and tells (its own, with its sampler)."""
    return searcher._ot_study


def live_trials(searcher: OptunaSearch) -> dict[str, optuna.Trial]:
    """``OptunaSearch``'s map from Tune trial id to the Optuna trial it runs."""
    return searcher._ot_trials


def completed(searcher: OptunaSearch) -> set[str]:
    """The Tune trial ids ``OptunaSearch`` has told Optuna about."""
    return searcher._completed_trials


def suggest_config(searcher: OptunaSearch, trial: optuna.Trial) -> dict[str, Any]:
    """The flat config ``OptunaSearch`` draws for ``trial`` from its define-by-run space."""
    return searcher._suggest_from_define_by_run_func(searcher._space, trial)


def reopen(on: optuna.Study, trial: FrozenTrial) -> optuna.Trial:
    """A live ``Trial`` for a RUNNING trial of the study, as ``Study.ask`` would return it."""
    import optuna

    return optuna.Trial(on, trial._trial_id)


def is_finished(on: optuna.Study, trial: optuna.Trial) -> bool:
    """Whether the storage holds ``trial`` as finished (told by any driver), read fresh."""
    return on._storage.get_trial(trial._trial_id).state.is_finished()


def set_run_config(tuner: Any, *, callbacks: list, stop: Any) -> None:
    """Give a restored ``ray.tune.Tuner`` this run's callbacks and stopper."""
    config = tuner._local_tuner.get_run_config()
    config.callbacks = callbacks
    config.stop = stop
