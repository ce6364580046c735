"""Ray Tune's tracker callbacks, fed only the numbers of each result (``trackers.scalars``).

Module-level classes, apart from ``sweeps.trackers`` (which chooses them and checks the
packages before Ray loads): Tune pickles its callbacks with the experiment, to resume it.
"""

from __future__ import annotations

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.air.integrations.wandb import WandbLoggerCallback
from ray.tune.logger import TBXLoggerCallback

from .trackers import scalars


class TensorBoard(TBXLoggerCallback):
    """Tune's TensorBoard callback, fed the epoch's numbers only (see the module)."""

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        super().log_trial_result(iteration, trial, scalars(result))


class MLflow(MLflowLoggerCallback):
    """Tune's MLflow callback (one MLflow run per trial), fed the epoch's numbers only."""

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        super().log_trial_result(iteration, trial, scalars(result))


class Wandb(WandbLoggerCallback):
    """Tune's W&B callback (one W&B run per trial), fed the epoch's numbers only."""

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        super().log_trial_result(iteration, trial, scalars(result))
