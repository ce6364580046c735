"""``best_ratio(dataset)``: the ratio to train with, as measured by the sweeps in the store.

Example::

    import analysis
    best = analysis.best_ratio("digits")          # $BIRIL_RESULTS or ./biril-results
    print(best.ratio_int, best.val_acc, best.ci, best.checkpoint)
"""

from __future__ import annotations

import math
import os

from pydantic import BaseModel

from analysis.stats import full_runs, summarize_ratios
from analysis.store import StoreError, display_url, load_trials, storage_url


class BestRatio(BaseModel):
    """The best-measured ratio of one dataset, pooled over the seeds it was run with."""

    dataset: str
    ratio: tuple[float, float, float]
    ratio_int: str
    metric: str
    val_acc: float
    test_acc: float | None
    n_seeds: int
    seeds: list[int]
    ci: tuple[float, float] | None
    sweep: str
    study: str
    trial_id: str | None
    trial_number: int
    checkpoint: str | None
    energy_pj_per_sample: float | None = None


def best_ratio(
    dataset: str,
    storage: str | os.PathLike | None = None,
    metric: str = "val_acc",
    max_energy: float | None = None,
) -> BestRatio:
    """The ratio with the best mean ``metric`` over seeds, among full runs of ``dataset``.

    Looks across every sweep of the dataset in the store (``storage``: results folder or
    database URL; default ``$BIRIL_RESULTS`` or ``./biril-results``). Ratios are pooled within
    a sweep across seeds and stages; ``ci`` is the 95% t-interval of ``metric`` over seeds
    (None with one seed). ``trial_id``/``checkpoint`` are the ratio's best single run.
    ``max_energy`` (pJ per sample): only ratios whose mean validation energy per sample is
    within that budget compete (ratios of sweeps that predate energy counting never do).
    """
    if metric not in ("val_acc", "test_acc"):
        raise ValueError(f"metric must be 'val_acc' or 'test_acc', got {metric!r}")
    if max_energy is not None and not max_energy > 0:
        raise ValueError(f"max_energy must be a positive number of pJ per sample, got {max_energy}")
    everything = load_trials(storage)
    summary = summarize_ratios(everything[everything["dataset"] == dataset], metric)
    if max_energy is not None and not summary.empty:
        summary = _within_budget(summary, dataset, max_energy, storage)
    if summary.empty:
        with_results = sorted(set(full_runs(everything).dropna(subset=[metric])["dataset"]))
        where = display_url(storage_url(storage))
        raise StoreError(
            f"dataset {dataset!r} has no full run with {metric} in {where}; datasets with "
            f"results: {', '.join(with_results) or 'none'}"
        )
    top = summary.iloc[0]
    prefix = "val" if metric == "val_acc" else "test"
    low, high = top[f"{prefix}_ci_low"], top[f"{prefix}_ci_high"]
    return BestRatio(
        dataset=dataset,
        ratio=(top["ratio_stdp"], top["ratio_stbp"], top["ratio_stdp_stbp"]),
        ratio_int=top["ratio_int"],
        metric=metric,
        val_acc=top["val_acc"],
        test_acc=None if math.isnan(top["test_acc"]) else top["test_acc"],
        n_seeds=top["n_seeds"],
        seeds=top["seeds"],
        ci=None if math.isnan(low) else (low, high),
        sweep=top["sweep"],
        study=top["study"],
        trial_id=_text_or_none(top["trial_id"]),
        trial_number=top["trial_number"],
        checkpoint=_text_or_none(top["checkpoint"]),
        energy_pj_per_sample=_number_or_none(top["energy_pj_per_sample"]),
    )


def _within_budget(summary, dataset: str, max_energy: float, storage):
    """The summary rows within ``max_energy``, or a StoreError giving the cheapest ratio."""
    energy = summary["energy_pj_per_sample"]
    fits = summary[energy <= max_energy]
    if fits.empty:
        where = display_url(storage_url(storage))
        if energy.isna().all():
            raise StoreError(
                f"dataset {dataset!r} has no full run with an energy measurement in {where}; "
                "run a sweep with this version (e.g. `biril sweep digits_energy`)"
            )
        cheapest = summary.loc[energy.idxmin()]
        raise StoreError(
            f"no ratio of {dataset!r} fits max_energy {max_energy:g} pJ per sample; the "
            f"cheapest is {cheapest['ratio_int']} at {cheapest['energy_pj_per_sample']:.4g} "
            "pJ: raise --max-energy"
        )
    return fits.reset_index(drop=True)


def _number_or_none(value: object) -> float | None:
    return None if value is None or math.isnan(float(value)) else float(value)


def _text_or_none(value: object) -> str | None:
    """A string cell, with pandas' missing markers (None, NaN) as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
