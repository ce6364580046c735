"""A finished sweep re-run with a larger budget grows; any other change is refused by name.

No Ray starts here (the Ray test that grows a real sweep is in ``test_sweeps_ray.py``).
"""

from __future__ import annotations

import optuna
import pytest

from sweeps import SweepError, parse_spec
from sweeps.grow import growth

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPEC = {
    "name": "grow",
    "train": {"dataset": "digits", "epochs": 2},
    "search": {"warm_start": ["1:8:3"], "num_trials": 3, "confirm": {"top_k": 1, "seeds": 1}},
    "scheduler": {"type": "none"},
}


def study_of(data: dict, state=optuna.trial.TrialState.COMPLETE) -> optuna.Study:
    study = optuna.create_study(study_name="digits/grow")
    study.set_user_attr("spec", parse_spec(data).to_store())
    value = 0.9 if state.is_finished() else None
    study.add_trial(optuna.trial.create_trial(state=state, value=value))
    return study


def grown(**search) -> dict:
    return {**SPEC, "search": {**SPEC["search"], **search}}


def test_a_larger_budget_is_a_growth_and_the_same_spec_is_not():
    study = study_of(SPEC)
    assert growth(study, parse_spec(SPEC)) is None
    assert growth(None, parse_spec(SPEC)) is None
    more = growth(study, parse_spec(grown(num_trials=5, confirm={"top_k": 2, "seeds": 3})))
    assert more.changes == (
        ("search.confirm.seeds", 1, 3), ("search.confirm.top_k", 1, 2), ("search.num_trials", 3, 5),
    )
    assert more.trials_before == 1
    assert more.describe() == (
        "search.confirm.seeds 1 → 3, search.confirm.top_k 1 → 2, search.num_trials 3 → 5"
    )


@pytest.mark.parametrize(("change", "field"), [
    ({"train": {"dataset": "digits", "epochs": 3}}, "train.epochs (2 → 3)"),
    ({"search": {**SPEC["search"], "bounds": {"stdp": {"min": 0.1}}}},
     "search.bounds.stdp.min (0.0 → 0.1)"),
    ({"search": {**SPEC["search"], "sampler": "random"}}, "search.sampler ('tpe' → 'random')"),
])
def test_a_change_that_makes_old_trials_incomparable_is_refused_naming_the_field(change, field):
    with pytest.raises(SweepError, match="would make its finished trials incomparable") as e:
        growth(study_of(SPEC), parse_spec({**SPEC, **change}))
    assert field in str(e.value) and "--fresh" in str(e.value)


def test_a_smaller_budget_and_an_unfinished_sweep_are_refused():
    with pytest.raises(SweepError, match="search.num_trials 3 → 2; a sweep grows but does not"):
        growth(study_of(SPEC), parse_spec(grown(num_trials=2)))
    running = study_of(SPEC, state=optuna.trial.TrialState.RUNNING)
    with pytest.raises(SweepError, match="is not finished"):
        growth(running, parse_spec(grown(num_trials=5)))
