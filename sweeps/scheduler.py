"""Early stopping for the search stage only."""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, TrialScheduler


class ConfirmAwareASHA(ASHAScheduler):
    """ASHA on validation accuracy per epoch that never stops confirmation runs.

    A confirmation run exists to give one more full-length sample of a ratio; cutting it
    short would bias the mean ± CI that the confirmation stage is for.
    """

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if trial.config.get("stage") == "confirm":
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)
