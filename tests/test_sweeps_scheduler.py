"""Rung decisions in trial order: the same cuts whatever order the results arrive in.

The reference is Ray's own ``ASHAScheduler`` fed the results trial by trial (each trial's
epochs before the next trial's), where arrival order *is* trial order; ``OrderedRungs`` and
``OrderedASHA`` must make exactly its cuts under any interleaving. No Ray starts here.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from sweeps.rungs import CONTINUE, STOP, WAIT, OrderedRungs, milestones
from sweeps.scheduler import OrderedASHA

MAX_T, GRACE, ETA = 8, 1, 2  # rungs at epochs 1, 2 and 4


def curves(n: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.random() for _ in range(MAX_T)] for _ in range(n)]


def ray_reference(curves: list[list[float]]) -> set[int]:
    """The trials Ray's ASHA cuts when trial k's epochs all arrive before trial k + 1's."""
    asha = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max", max_t=MAX_T,
                         grace_period=GRACE, reduction_factor=ETA)
    cut = set()
    for k, curve in enumerate(curves):
        trial = SimpleNamespace(trial_id=f"t{k}", config={})
        asha.on_trial_add(None, trial)
        for epoch, acc in enumerate(curve, start=1):
            decision = asha.on_trial_result(None, trial, {"epoch": epoch, "val_acc": acc})
            if decision == "STOP" and epoch < MAX_T:  # at max_t, ASHA "stops" finished ones
                cut.add(k)
                break
    return cut


def interleaved(curves: list[list[float]], seed: int) -> list[tuple[int, int]]:
    """(trial, epoch) events in a random arrival order, each trial's epochs in order."""
    rng = random.Random(seed)
    next_epoch = [1] * len(curves)
    events = []
    while any(e <= MAX_T for e in next_epoch):
        k = rng.choice([k for k, e in enumerate(next_epoch) if e <= MAX_T])
        events.append((k, next_epoch[k]))
        next_epoch[k] += 1
    return events


def test_milestones_are_rays():
    assert milestones(GRACE, ETA, MAX_T) == [1, 2, 4]
    assert milestones(3, 3, 8) == [3]  # the digits spec: one rung, at epoch 3


@pytest.mark.parametrize("seed", range(3))
def test_the_cuts_are_the_same_in_any_arrival_order_and_match_rays_asha(seed):
    data = curves(12, seed)
    expected = ray_reference(data)
    assert expected  # the landscape is random: ASHA does cut something
    for order in range(8):
        rungs = OrderedRungs(GRACE, ETA, MAX_T)
        for k in range(len(data)):
            rungs.add(k)
        cut, trained = set(), [0] * len(data)
        for k, epoch in interleaved(data, seed * 100 + order):
            if k in cut or rungs.ended.get(k) is not None:
                continue
            trained[k] = epoch
            rungs.record(k, data[k][:epoch])
            # Earlier trials that were waiting are decided as results come in.
            for j in range(len(data)):
                if j not in cut and rungs.decide(j) == STOP:
                    cut.add(j)
                    rungs.end(j, trained[j])
            if epoch == MAX_T:
                rungs.end(k, MAX_T)
        assert cut == expected


def test_a_trial_waits_for_an_earlier_one_still_short_of_the_rung():
    rungs = OrderedRungs(GRACE, ETA, MAX_T)
    rungs.add(0)
    rungs.add(1)
    rungs.record(1, [0.1, 0.2])
    assert rungs.decide(1) == WAIT  # trial 0 has not reached epoch 1 yet
    rungs.record(0, [0.9])
    assert rungs.decide(1) == STOP  # 0.1 is below the median of {0.9}
    rungs2 = OrderedRungs(GRACE, ETA, MAX_T)
    rungs2.add(0)
    rungs2.add(1)
    rungs2.record(1, [0.1])
    rungs2.end(0, 0)  # trial 0 failed before its first epoch: it never counts
    assert rungs2.decide(1) == CONTINUE


def trial(number: int, stage: str = "search") -> SimpleNamespace:
    return SimpleNamespace(trial_id=f"t{number}", config={"stage": stage, "number": number},
                           status=Trial.RUNNING, last_result=None)


def result(curve: list[float]) -> dict:
    return {"epoch": len(curve), "curve": [{"epoch": e + 1, "val_acc": v}
                                           for e, v in enumerate(curve)]}


def test_the_tune_scheduler_pauses_a_trial_about_to_finish_undecided_then_stops_it():
    stopped = []
    controller = SimpleNamespace(stop_trial=stopped.append, get_trials=lambda: [])
    asha = OrderedASHA(grace_period=GRACE, reduction_factor=ETA, max_t=MAX_T)
    early, late, confirm = trial(0), trial(1), trial(2, stage="confirm")
    for t in (early, late, confirm):
        asha.on_trial_add(controller, t)
    low = [0.1] * (MAX_T - 1)
    # Trial 1 ran ahead: undecided while trial 0 has no epoch, it trains on ...
    assert asha.on_trial_result(controller, late, result(low[:3])) == TrialScheduler.CONTINUE
    # ... until its last epoch but one, where it is paused rather than allowed to finish.
    assert asha.on_trial_result(controller, late, result(low)) == TrialScheduler.PAUSE
    late.status = Trial.PAUSED
    controller.get_trials = lambda: [early, late]
    assert asha.choose_trial_to_run(controller) is None  # it stays paused while it waits
    # Trial 0 reaches the rungs well above it: trial 1 is cut there, as ASHA in order would.
    assert asha.on_trial_result(controller, early, result([0.9])) == TrialScheduler.CONTINUE
    assert stopped == [late]
    # A confirmation run is never cut, however poor.
    assert asha.on_trial_result(controller, confirm, result([0.0] * 4)) == TrialScheduler.CONTINUE
