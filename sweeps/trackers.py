"""Experiment trackers: TensorBoard (on by default), MLflow and Weights & Biases.

Labs keep their runs in one of these, so a sweep feeds them through Ray Tune's own logger
callbacks, one tracker run per trial, configured by the spec's ``logging:`` block
(``sweeps.spec.Logging``).

Why Tune's automatic TensorBoard logger stays off (``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``
in ``sweeps.runner``): it logs every list in a result too, so each epoch's ``curve`` (a list
of dicts) was refused with a warning and ``gpu_ids`` and the ``ratio`` were drawn as
histograms. ``tracker_loggers.TensorBoard`` is the same callback fed only numbers: the epoch's
metrics (each result is one epoch of the curve, at step = epoch, since a trial reports once
per epoch and Tune restores the count on resume), the STDP diagnostics per layer and the
ratio's three shares, flattened to ``ray/tune/<name>``.

MLflow and W&B are optional (``pip install 'biril-sweeps[mlflow]'`` / ``[wandb]``); asked
for and absent, the sweep stops before Ray starts with the command that installs them.
"""

from __future__ import annotations

import importlib.util
import numbers
from pathlib import Path
from typing import Any

from results.layout import is_uri

from .spec import Logging, SweepError

SHARES = ("stdp", "stbp", "stdp_stbp")
# Result keys that are not metrics of the epoch (the whole curve so far; identity lists).
NOT_SCALARS = ("curve", "gpu_ids", "ratio_parts")
MLFLOW_DB = "mlflow.db"


def scalars(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a result, nested dicts kept (Tune flattens them), lists dropped; the
    ratio becomes its three named shares."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if key in NOT_SCALARS:
            continue
        if key == "ratio" and isinstance(value, list | tuple) and len(value) == len(SHARES):
            out[key] = dict(zip(SHARES, value, strict=True))
        elif isinstance(value, dict):
            out[key] = scalars(value)
        elif isinstance(value, numbers.Number):
            out[key] = value
    return out


def check_installed(logging: Logging) -> None:
    """Fail before Ray starts when the spec asks for a tracker whose package is absent."""
    for name, wanted, package in (
        ("mlflow", logging.mlflow, "mlflow"),
        ("wandb", logging.wandb, "wandb"),
    ):
        if wanted is not None and importlib.util.find_spec(package) is None:
            raise SweepError(
                f"logging.{name}: the {package} package is not installed; "
                f"pip install 'biril-sweeps[{name}]' (or pip install {package}), or remove "
                f"logging.{name} from the spec"
            )


def mlflow_uri(logging: Logging, results_dir: str) -> str:
    """The MLflow tracking URI: the spec's, else a SQLite database beside the sweep's results
    (MLflow 3 refuses its old ``mlruns/`` file store unless told otherwise)."""
    if logging.mlflow is not None and logging.mlflow.tracking_uri:
        return logging.mlflow.tracking_uri
    if is_uri(results_dir):
        raise SweepError(
            f"logging.mlflow: the results are at {results_dir}, where an MLflow database "
            "cannot live; set logging.mlflow.tracking_uri (an MLflow server or a database URL)"
        )
    folder = Path(results_dir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / MLFLOW_DB}"
