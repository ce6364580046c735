"""Read the results store (one Optuna database, one study per sweep) into pandas.

The store is written only by ``biril sweep`` (its layout and attributes are
``results.layout`` and ``results.schema``); this module only reads it. It refuses to touch
anything that is not an Optuna database — opening an Optuna storage on an arbitrary
database would otherwise create Optuna's tables in it.

Example::

    import analysis
    trials = analysis.load_trials("biril-results", dataset="digits")
    trials.groupby("ratio_int").val_acc.mean()
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from results import layout
from results.database import (
    DatabaseError,
    check_optuna_database,
    display_url,
    first_line,
    redact,
)
from results.errors import StoreError
from results.ratios import closest_int_ratio, fractions
from results.runs import accuracy, is_full_run
from results.schema import CURVE_ENERGY_KEYS, CURVE_KEYS, ENERGY_KEYS, REQUIRED_TRIAL_ATTRS

__all__ = ["StoreError", "load_curves", "load_frames", "load_trials", "open_storage"]

# ``full_run``: the trial counts for the ranking (``results.runs.is_full_run``). Energy
# columns are NaN for sweeps that predate energy counting, ``val_size`` for sweeps that
# predate recording it. ``params`` (searched TrainConfig values) and ``overrides`` (a
# variant's changes, e.g. the frozen control's) are dicts, {} for none.
TRIAL_COLUMNS = [
    "dataset", "sweep", "study", "trial_number", "trial_id", "stage", "role", "state",
    "ratio_stdp", "ratio_stbp", "ratio_stdp_stbp", "ratio_int", "params", "overrides", "seed",
    "epochs_planned",
    "epochs_completed", "full_run", "val_acc", "val_size", "test_acc", "seconds",
    "spike_rates", "checkpoint", "trial_dir", *ENERGY_KEYS,
]
CURVE_IDENTITY = [
    "dataset", "sweep", "study", "trial_number", "trial_id", "stage", "seed", "ratio_int",
    "full_run",
]
CURVE_COLUMNS = [*CURVE_IDENTITY, *CURVE_KEYS]


@dataclass
class StudyRecords:
    """One sweep's study: its identity and its trials' rows and per-epoch curves."""

    dataset: str
    sweep: str
    study: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    curves: list[list[dict[str, Any]]] = field(default_factory=list)


def storage_url(storage: str | os.PathLike | None) -> str:
    """The SQLAlchemy URL for a results root folder (``--storage``, else ``$BIRIL_RESULTS``,
    else ``./biril-results``), a ``.db`` file, or a database URL (kept as is)."""
    text = layout.results_root(storage)
    if layout.is_object_store(text):
        raise StoreError(
            f"{text} is an object-store results root, which holds no database; "
            "pass the sweep's --db URL (e.g. postgresql+psycopg2://...) as --storage"
        )
    if layout.is_uri(text):
        return text
    path = Path(text)
    db = path if path.is_file() else path / layout.DB_NAME
    if not db.is_file():
        raise StoreError(
            f"no results store at {path}: {db} does not exist; run `biril sweep` first, or "
            "pass --storage with a results folder or a database URL"
        )
    return f"sqlite:///{db}"


def open_storage(storage: str | os.PathLike | None):
    """An Optuna RDB storage on an existing Optuna database, or a StoreError saying why not."""
    import optuna
    import sqlalchemy

    url = storage_url(storage)
    try:
        check_optuna_database(url, "--storage", empty_ok=False)
    except DatabaseError as err:
        raise StoreError(str(err)) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.storages.RDBStorage(url, skip_table_creation=True)
    except (RuntimeError, sqlalchemy.exc.SQLAlchemyError) as err:
        message = f"cannot use {display_url(url)} as an Optuna store: {first_line(err)}"
        raise StoreError(redact(message, url)) from err


def read_store(
    storage: str | os.PathLike | None, dataset: str | None = None, sweep: str | None = None
) -> list[StudyRecords]:
    """Every BIRIL study in the store matching ``dataset``/``sweep``, with its trials."""
    rdb = open_storage(storage)
    shown = display_url(rdb.url)
    try:
        studies = [(s, _study_identity(s)) for s in rdb.get_all_studies()]
        ours = [(s, ident) for s, ident in studies if ident is not None]
        if not studies:
            raise StoreError(f"results store {shown} holds no studies; run `biril sweep` first")
        if not ours:
            names = ", ".join(s.study_name for s, _ in studies)
            raise StoreError(
                f"results store {shown} holds no BIRIL sweep studies (found: {names}); studies "
                "need the dataset/sweep user attrs or a '<dataset>/<sweep>' name"
            )
        selected = _select(ours, dataset, sweep, shown)
        records = []
        for study, (ds, sw) in selected:
            record = StudyRecords(dataset=ds, sweep=sw, study=study.study_name)
            for trial in rdb.get_all_trials(study._study_id, deepcopy=False):
                _add_trial(record, trial)
            records.append(record)
    finally:
        rdb.engine.dispose()
    return records


def load_trials(
    storage: str | os.PathLike | None, dataset: str | None = None, sweep: str | None = None
) -> pd.DataFrame:
    """One row per trial of every matching sweep (columns: ``TRIAL_COLUMNS``).

    ``storage`` is a results root folder (its ``biril.db``), a SQLite file, or any SQLAlchemy
    URL Optuna accepts. Trials not yet reported (no ratio attr, not finished) are left out.
    """
    return load_frames(storage, dataset, sweep)[0]


def load_curves(
    storage: str | os.PathLike | None, dataset: str | None = None, sweep: str | None = None
) -> pd.DataFrame:
    """Per-epoch metrics of every trial, one row per (trial, epoch) (``CURVE_COLUMNS``)."""
    return load_frames(storage, dataset, sweep)[1]


def load_frames(
    storage: str | os.PathLike | None, dataset: str | None = None, sweep: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(load_trials(...), load_curves(...))`` from one read of the store."""
    records = read_store(storage, dataset, sweep)
    rows, curve_rows = [], []
    for record in records:
        rows.extend(record.rows)
        for row, curve in zip(record.rows, record.curves, strict=True):
            ident = {k: row[k] for k in CURVE_IDENTITY}
            for point in curve:
                curve_rows.append({**ident, **{k: point.get(k) for k in CURVE_KEYS}})
    trials = pd.DataFrame(rows, columns=TRIAL_COLUMNS).astype({"full_run": bool})
    curves = pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).astype(
        {"full_run": bool, **dict.fromkeys(CURVE_ENERGY_KEYS, float)}
    )
    curves = curves.sort_values(["study", "trial_number", "epoch"], ignore_index=True)
    return trials, curves


def _study_identity(study) -> tuple[str, str] | None:
    """(dataset, sweep) from the study's user attrs, else from a ``dataset/sweep`` name."""
    attrs = study.user_attrs
    if isinstance(attrs.get("dataset"), str) and isinstance(attrs.get("sweep"), str):
        return attrs["dataset"], attrs["sweep"]
    return layout.split_study_name(study.study_name)


def _select(ours: list, dataset: str | None, sweep: str | None, shown: str) -> list:
    """The studies matching the filters, or a StoreError naming what the store does hold."""
    if dataset is not None:
        known = sorted({ds for _, (ds, _) in ours})
        ours = [(s, ident) for s, ident in ours if ident[0] == dataset]
        if not ours:
            raise StoreError(
                f"no sweep of dataset {dataset!r} in {shown}; datasets with results: "
                f"{', '.join(known)}"
            )
    if sweep is not None:
        known = sorted({sw for _, (_, sw) in ours})
        ours = [(s, ident) for s, ident in ours if ident[1] == sweep]
        if not ours:
            raise StoreError(
                f"no sweep named {sweep!r}{_for(dataset)} in {shown}; sweeps: {', '.join(known)}"
            )
    return ours


def _for(dataset: str | None) -> str:
    return f" for dataset {dataset!r}" if dataset is not None else ""


def _add_trial(record: StudyRecords, trial) -> None:
    """Append one Optuna trial as a row (and its curve), enforcing the contract's attrs."""
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    missing = [name for name in REQUIRED_TRIAL_ATTRS if name not in attrs]
    if trial.state == TrialState.COMPLETE and missing:
        raise StoreError(
            f"study {record.study!r} trial {trial.number} lacks the BIRIL user attrs "
            f"{', '.join(missing)}; it was not written by `biril sweep` (contract: every "
            "trial carries dataset, sweep, stage, ratio, seed, epochs, full_run, val_acc)"
        )
    if "ratio" not in attrs:
        return  # Still running or failed before reporting: nothing to place on the simplex.
    try:
        fracs = fractions(attrs["ratio"])
    except (TypeError, ValueError) as err:
        raise StoreError(
            f"study {record.study!r} trial {trial.number} has a malformed ratio attr: {err}"
        ) from err
    val_acc = accuracy(trial)
    seconds = attrs.get("seconds")
    if seconds is None and trial.datetime_start and trial.datetime_complete:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    record.rows.append({
        "dataset": record.dataset,
        "sweep": record.sweep,
        "study": record.study,
        "trial_number": trial.number,
        "trial_id": attrs.get("trial_id"),
        "stage": attrs.get("stage"),
        "role": attrs.get("role", attrs.get("stage")),
        "state": trial.state.name,
        "ratio_stdp": fracs[0],
        "ratio_stbp": fracs[1],
        "ratio_stdp_stbp": fracs[2],
        "ratio_int": closest_int_ratio(fracs),
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
        **{key: _number(attrs.get(key)) for key in ENERGY_KEYS},
    })
    curve = attrs.get("curve") or []
    record.curves.append([point for point in curve if isinstance(point, dict)])


def _number(value: Any) -> float:
    """A float, with None (not reported) as NaN so pandas treats it as missing."""
    return float("nan") if value is None else float(value)
