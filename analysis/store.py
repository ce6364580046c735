"""Read the results store (one Optuna database, one study per sweep) into pandas.

The store is written only by ``biril sweep`` (its layout and attributes are
``results.layout`` and ``results.schema``); this module only reads it, through
``analysis.tables`` — Optuna's tables read directly, so a trials frame costs what its
columns cost, and the per-epoch curves are read only by the readers that want them.

Example::

    import analysis
    trials = analysis.load_trials("biril-results", dataset="digits")
    trials.groupby("ratio_int").val_acc.mean()
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from analysis.tables import (
    OpenStore,
    StoredTrial,
    StudyRef,
    find_studies,
    open_store,
    read_attr,
    read_trials,
)
from results.errors import StoreError
from results.ratios import closest_int_ratios, fractions
from results.runs import accuracy, is_full_run
from results.schema import CURVE_ENERGY_KEYS, CURVE_KEYS, ENERGY_KEYS, PROBE_KEYS

__all__ = ["StoreError", "load_curves", "load_frames", "load_trials"]

# ``full_run``: the trial counts for the ranking (``results.runs.is_full_run``). Energy
# columns are NaN for sweeps that predate energy counting, ``val_size`` for sweeps that
# predate recording it. ``params`` (searched TrainConfig values) and ``overrides`` (a
# variant's changes, e.g. the frozen control's) are dicts, {} for none. The linear probe's
# accuracies (``probe_gap``, ``probe_pool4``) are NaN for runs that fitted none.
TRIAL_COLUMNS = [
    "dataset", "sweep", "study", "trial_number", "trial_id", "stage", "role", "state",
    "ratio_stdp", "ratio_stbp", "ratio_stdp_stbp", "ratio_int", "params", "overrides", "seed",
    "epochs_planned",
    "epochs_completed", "full_run", "val_acc", "val_size", "test_acc", "seconds",
    "spike_rates", "checkpoint", "trial_dir", *ENERGY_KEYS, *PROBE_KEYS.values(),
]
CURVE_IDENTITY = [
    "dataset", "sweep", "study", "trial_number", "trial_id", "stage", "seed", "ratio_int",
    "full_run",
]
CURVE_COLUMNS = [*CURVE_IDENTITY, *CURVE_KEYS]
# The per-epoch attribute: the bulk of the store, read only by ``load_curves``.
CURVE_ATTR = "curve"


def load_trials(
    storage: str | os.PathLike | None, dataset: str | None = None, sweep: str | None = None
) -> pd.DataFrame:
    """One row per trial of every matching sweep (columns: ``TRIAL_COLUMNS``).

    ``storage`` is a results root folder (its ``biril.db``), a SQLite file, or any SQLAlchemy
    URL Optuna accepts. Trials not yet reported (no ratio attr, not finished) are left out.
    """
    with open_store(storage) as store:
        return _trials_frame(store, find_studies(store, dataset, sweep))[0]


def load_curves(
    storage: str | os.PathLike | None, dataset: str | None = None, sweep: str | None = None
) -> pd.DataFrame:
    """Per-epoch metrics of every trial, one row per (trial, epoch) (``CURVE_COLUMNS``)."""
    return load_frames(storage, dataset, sweep)[1]


def load_frames(
    storage: str | os.PathLike | None, dataset: str | None = None, sweep: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(load_trials(...), load_curves(...))`` from one read of the store."""
    with open_store(storage) as store:
        studies = find_studies(store, dataset, sweep)
        trials, db_ids = _trials_frame(store, studies)
        curves = read_attr(store, studies, CURVE_ATTR)
    return trials, _curves_frame(trials, [curves.get(i) for i in db_ids])


def _trials_frame(store: OpenStore, studies: list[StudyRef]) -> tuple[pd.DataFrame, list[int]]:
    """The trials frame (every attribute but the curve read) and, row by row, each trial's
    database id (to join its curve)."""
    trials = read_trials(store, studies, skip=[CURVE_ATTR], params=True)
    rows, db_ids = [], []
    for study in studies:
        for trial in trials[study.name]:
            row = _row(study, trial)
            if row is not None:
                rows.append(row)
                db_ids.append(trial.db_id)
    frame = pd.DataFrame(rows, columns=TRIAL_COLUMNS).astype({"full_run": bool})
    shares = frame[["ratio_stdp", "ratio_stbp", "ratio_stdp_stbp"]].to_numpy(dtype=float)
    frame["ratio_int"] = closest_int_ratios(shares) if len(frame) else []
    return frame, db_ids


def _curves_frame(trials: pd.DataFrame, curves: list[Any]) -> pd.DataFrame:
    """One row per (trial, epoch): the trial's identity columns beside each curve point."""
    points = [[p for p in curve or [] if isinstance(p, dict)] for curve in curves]
    counts = [len(curve) for curve in points]
    values = pd.DataFrame.from_records(
        [p for curve in points for p in curve], columns=list(CURVE_KEYS)
    )
    ident = trials[CURVE_IDENTITY].iloc[np.repeat(np.arange(len(trials)), counts)]
    frame = pd.concat([ident.reset_index(drop=True), values], axis=1)[CURVE_COLUMNS]
    frame = frame.astype({"full_run": bool, **dict.fromkeys(CURVE_ENERGY_KEYS, float)})
    return frame.sort_values(["study", "trial_number", "epoch"], ignore_index=True)


def _row(study: StudyRef, trial: StoredTrial) -> dict[str, Any] | None:
    """One trial as a row of the trials frame; None for a trial not yet reported."""
    attrs = trial.user_attrs
    if "ratio" not in attrs:
        return None  # Still running or failed before reporting: nothing to place on the simplex.
    try:
        fracs = fractions(attrs["ratio"])
    except (TypeError, ValueError) as err:
        raise StoreError(
            f"study {study.name!r} trial {trial.number} has a malformed ratio attr: {err}"
        ) from err
    val_acc = accuracy(trial)
    seconds = attrs.get("seconds")
    if seconds is None and trial.datetime_start and trial.datetime_complete:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    return {
        "dataset": study.dataset,
        "sweep": study.sweep,
        "study": study.name,
        "trial_number": trial.number,
        "trial_id": attrs.get("trial_id"),
        "stage": attrs.get("stage"),
        "role": attrs.get("role", attrs.get("stage")),
        "state": trial.state.name,
        "ratio_stdp": fracs[0],
        "ratio_stbp": fracs[1],
        "ratio_stdp_stbp": fracs[2],
        "params": attrs.get("params") or {},
        "overrides": attrs.get("overrides") or {},
        "seed": attrs.get("seed"),
        "epochs_planned": attrs.get("epochs_planned"),
        "epochs_completed": attrs.get("epochs_completed"),
        "full_run": is_full_run(trial),
        "val_acc": _number(val_acc),
        "val_size": _number(attrs.get("val_size")),
        "test_acc": _number(attrs.get("test_acc")),
        "seconds": _number(seconds),
        "spike_rates": attrs.get("spike_rates") or {},
        "checkpoint": attrs.get("checkpoint"),
        "trial_dir": attrs.get("trial_dir"),
        **{key: _number(attrs.get(key)) for key in (*ENERGY_KEYS, *PROBE_KEYS.values())},
    }


def _number(value: Any) -> float:
    """A float, with None (not reported) as NaN so pandas treats it as missing."""
    return math.nan if value is None else float(value)
