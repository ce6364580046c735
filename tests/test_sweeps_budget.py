"""The time budget: durations in the spec, and trials stopped only at their reports.

No Ray cluster starts here (the stopper and the searcher's check are plain calls).
"""

from __future__ import annotations

import time

import pytest

from sweeps import SpecError, parse_spec
from sweeps import budget as sweep_budget
from sweeps.grow import changes
from sweeps.spec import duration_seconds

SPEC = {"name": "b", "train": {"dataset": "digits", "epochs": 1},
        "search": {"warm_start": ["1:8:3"], "num_trials": 1}, "scheduler": {"type": "none"}}


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), (90, 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1.5d", 129600),
])
def test_durations(text, seconds):
    assert duration_seconds(text) == seconds


def test_a_bad_budget_fails_the_spec_naming_the_field():
    with pytest.raises(SpecError, match=r"stop.time_budget: '2 hours': give a positive duration"):
        parse_spec({**SPEC, "stop": {"time_budget": "2 hours"}})
    with pytest.raises(SpecError, match="stop.time_budget"):
        parse_spec({**SPEC, "stop": {"time_budget": 0}})
    spec = parse_spec({**SPEC, "stop": {"time_budget": "2h"}})
    assert spec.stop.seconds == 7200
    # A new budget changes how a run ends, not what its trials measure: not a new sweep.
    assert changes(parse_spec(SPEC).to_store(), spec) == []


def test_the_stopper_stops_trials_at_their_reports_only_once_the_budget_is_spent():
    stopper = sweep_budget.BudgetStopper()
    sweep_budget.start(None)
    assert not sweep_budget.spent() and not stopper("t", {"epoch": 1})
    sweep_budget.start(3600)
    assert not sweep_budget.spent() and not stopper("t", {"epoch": 1})
    sweep_budget.start(0.01)
    time.sleep(0.02)
    assert sweep_budget.spent() and stopper("t", {"epoch": 1})
    assert not stopper.stop_all()  # never all at once: running trials finish their epoch
    sweep_budget.start(None)


def test_a_race_budget_without_a_race_is_refused():
    data = {**SPEC, "search": {**SPEC["search"], "confirm": {"budget": 3}}}
    with pytest.raises(SpecError, match="search.confirm: budget caps a race: set scheme: racing"):
        parse_spec(data)
