"""``ConfirmAwareASHA`` cuts search trials as ASHA does and never a confirmation run.

Driven directly, with the per-epoch results a sweep would send: no Ray starts here.
"""

from __future__ import annotations

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from sweeps.scheduler import ConfirmAwareASHA


def test_search_trials_below_the_rung_are_cut_and_confirmation_runs_never():
    asha = ConfirmAwareASHA(
        time_attr="epoch", metric="val_acc", mode="max", max_t=4, grace_period=1,
        reduction_factor=2,
    )
    search = [SimpleNamespace(trial_id=f"s{i}", config={"stage": "search"}) for i in range(4)]
    confirm = SimpleNamespace(trial_id="c", config={"stage": "confirm"})
    for trial in [*search, confirm]:
        asha.on_trial_add(None, trial)
    # Three good trials reach the grace period (epoch 1) first; a poor one is then cut there.
    decisions = [
        asha.on_trial_result(None, t, {"epoch": 1, "val_acc": acc})
        for t, acc in zip(search, [0.9, 0.9, 0.9, 0.1], strict=True)
    ]
    assert decisions == [TrialScheduler.CONTINUE] * 3 + [TrialScheduler.STOP]
    # A confirmation run as poor, at every epoch, runs on.
    for epoch in (1, 2, 3):
        result = {"epoch": epoch, "val_acc": 0.1}
        assert asha.on_trial_result(None, confirm, result) == TrialScheduler.CONTINUE
