"""``sweeps.internals``, the private Ray Tune and Optuna names the sweeps use, on the installed
releases: each test fails, naming the name, when a release moves or changes one.

The references are the libraries' public APIs (``Study.ask``/``tell``, ``load_study``,
``Searcher.on_trial_complete``, ``RunConfig``), not the adapter's own answers.
"""

from __future__ import annotations

import importlib.util

import optuna
import ray
from optuna.trial import TrialState
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from sweeps import internals

optuna.logging.set_verbosity(optuna.logging.WARNING)


def space(trial: optuna.Trial) -> None:
    """A define-by-run space, as ``sweeps.space.RatioSpace`` is."""
    trial.suggest_float("x", 0.0, 1.0)


def searcher_on(url: str) -> OptunaSearch:
    return OptunaSearch(
        space=space, metric="v", mode="max", study_name="s",
        storage=optuna.storages.RDBStorage(url),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )


def test_the_release_checked_is_the_release_pinned():
    # pyproject pins ray 2.60.x and optuna < 6; a release outside them needs this file re-run
    # and CHECKED_AGAINST moved.
    assert ray.__version__.split(".")[:2] == internals.CHECKED_AGAINST["ray"].split(".")[:2]
    assert optuna.__version__.split(".")[0] == internals.CHECKED_AGAINST["optuna"].split(".")[0]


def test_the_searchers_study_map_and_finished_set(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    searcher = searcher_on(url)
    config = searcher.suggest("t0")
    study = internals.study(searcher)
    assert isinstance(study, optuna.Study) and study.study_name == "s"
    live = internals.live_trials(searcher)
    assert list(live) == ["t0"] and isinstance(live["t0"], optuna.Trial)
    assert live["t0"].params == {"x": config["x"]}
    assert internals.completed(searcher) == set()
    searcher.on_trial_complete("t0", {"v": 0.5, "x": config["x"]})
    assert internals.completed(searcher) == {"t0"}
    # Told through the public Searcher API, stored as Optuna's public API reads it.
    (trial,) = optuna.load_study(study_name="s", storage=url).trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.5


def test_suggest_config_draws_from_the_define_by_run_space(tmp_path):
    searcher = searcher_on(f"sqlite:///{tmp_path}/s.db")
    study = internals.study(searcher)
    trial = study.ask()
    config = internals.suggest_config(searcher, trial)
    assert set(config) == {"x"} and 0.0 <= config["x"] <= 1.0
    assert trial.params == config  # the draw is recorded on the Optuna trial


def test_reopen_and_is_finished_follow_the_storage(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(study_name="s", storage=url)
    asked = study.ask()
    (running,) = optuna.load_study(study_name="s", storage=url).trials
    again = internals.reopen(study, running)
    assert again.number == asked.number
    assert not internals.is_finished(study, again)
    # Told elsewhere (another driver, another process's study object): seen fresh here.
    optuna.load_study(study_name="s", storage=url).tell(asked.number, 1.0)
    assert internals.is_finished(study, again)


def test_set_run_config_replaces_the_callbacks_and_the_stopper():
    class Mark(tune.Callback):
        pass

    old, new = Mark(), Mark()
    stop = {"epoch": 3}
    tuner = tune.Tuner(lambda config: None, run_config=tune.RunConfig(callbacks=[old]))
    internals.set_run_config(tuner, callbacks=[new], stop=stop)
    # What ``fit`` hands the experiment (TunerInternal._get_tune_run_arguments) reads this.
    assert tuner._local_tuner._run_config.callbacks == [new]
    assert tuner._local_tuner._run_config.stop is stop


def test_the_tune_storage_logger_is_a_ray_module():
    assert importlib.util.find_spec(internals.TUNE_STORAGE_LOGGER) is not None
