"""A sweep's time budget (spec ``stop: {time_budget: 2h}``): end cleanly when it is spent.

Once the budget is spent, the searcher starts no new trial (``RatioSearch`` asks
``spent()``) and each running trial is stopped at its next report (``BudgetStopper``),
that is right after it has finished an epoch and checkpointed it. Nothing is cut
mid-epoch, and the summary says the sweep stopped on budget.

The clock is this driver's: the budget counts from when ``run_sweep`` started, and a
resumed sweep gets the whole budget again. It lives in this module rather than in the
searcher or the stopper because Tune pickles both (and restores them on resume), while
the deadline belongs to the run that is under way.
"""

from __future__ import annotations

import time

from ray.tune import Stopper

_deadline: list[float] = []  # the current run's wall-clock deadline, if it has one


def start(budget_seconds: float | None) -> None:
    """Start this run's clock (None: no budget)."""
    _deadline.clear()
    if budget_seconds is not None:
        _deadline.append(time.time() + budget_seconds)


def spent() -> bool:
    """Whether this run's budget is spent (False without one)."""
    return bool(_deadline) and time.time() >= _deadline[0]


class BudgetStopper(Stopper):
    """Stops each trial at its first report after the budget is spent; never all at once
    (that would cut running trials mid-epoch)."""

    def __call__(self, trial_id: str, result: dict) -> bool:
        return spent()

    def stop_all(self) -> bool:
        return False
