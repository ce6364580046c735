"""Ray Tune's tracker callbacks, fed only the numbers of each result (``trackers.scalars``),
and the list of them a spec's ``logging:`` block asks for.

Module-level classes, apart from ``sweeps.trackers`` (which checks the packages before Ray
loads): Tune pickles its callbacks with the experiment, to resume it.
"""

from __future__ import annotations

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.air.integrations.wandb import WandbLoggerCallback
from ray.tune.logger import TBXLoggerCallback

from .spec import Logging
from .trackers import mlflow_uri, scalars


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


def tracker_callbacks(logging: Logging, study_name: str, results_dir: str) -> list:
    """The Tune logger callbacks the spec asks for (``check_installed`` first)."""
    callbacks: list = [TensorBoard()] if logging.tensorboard else []
    if logging.mlflow is not None:
        callbacks.append(
            MLflow(
                tracking_uri=mlflow_uri(logging, results_dir),
                experiment_name=logging.mlflow.experiment or study_name,
                tags={"study": study_name},
                save_artifact=False,
            )
        )
    if logging.wandb is not None:
        callbacks.append(
            Wandb(
                project=logging.wandb.project or study_name.replace("/", "-"),
                group=logging.wandb.group or study_name,
                log_config=True,
            )
        )
    return callbacks
