"""``best_ratio(dataset)``: the ratio to train with, as measured by the sweeps in the store.

The answer is ``results.ranking``'s one rule over every sweep of the dataset in the store,
the same rule ``biril sweep``'s summary and the report use.

Example::

    import analysis
    best = analysis.best_ratio("digits")          # $BIRIL_RESULTS or ./biril-results
    print(best.ratio_int, best.val_acc, best.ci, best.n_seeds, best.vs_stbp, best.verdict)
"""

from __future__ import annotations

import os

from analysis.stats import full_runs, rank_trials
from analysis.store import StoreError, display_url, load_trials, storage_url
from results.ranking import Best as BestRatio

__all__ = ["BestRatio", "best_ratio"]


def best_ratio(
    dataset: str, storage: str | os.PathLike | None = None, max_energy: float | None = None
) -> BestRatio:
    """The best ratio of ``dataset`` by the one rule, and how sure that is.

    Looks across every sweep of the dataset in the store (``storage``: results folder or
    database URL; default ``$BIRIL_RESULTS`` or ``./biril-results``). Ratios are pooled
    within a sweep across seeds and stages and ranked by the lower end of their 95%
    interval (``results.ranking``); the answer carries ``n_seeds``, ``val_acc`` (mean),
    ``ci``, ``val_size``, ``indistinguishable``, ``vs_stbp`` and a plain-words ``verdict``.
    ``trial_id``/``checkpoint`` are the ratio's best single run. ``max_energy`` (pJ per
    sample): only ratios whose mean validation energy per sample is within that budget
    compete (ratios of sweeps that predate energy counting never do).
    """
    if max_energy is not None and not max_energy > 0:
        raise ValueError(f"max_energy must be a positive number of pJ per sample, got {max_energy}")
    everything = load_trials(storage)
    trials = everything[everything["dataset"] == dataset]
    ranking = rank_trials(trials, max_energy=max_energy)
    if ranking.best is not None:
        return ranking.best
    where = display_url(storage_url(storage))
    if max_energy is not None and not full_runs(trials).empty:
        _no_ratio_within(trials, dataset, max_energy, where)
    with_results = sorted(set(full_runs(everything).dropna(subset=["val_acc"])["dataset"]))
    raise StoreError(
        f"dataset {dataset!r} has no full run in {where}; datasets with results: "
        f"{', '.join(with_results) or 'none'}"
    )


def _no_ratio_within(trials, dataset: str, max_energy: float, where: str) -> None:
    """Raise the StoreError that says why no ratio fits ``max_energy``."""
    standings = rank_trials(trials).standings
    measured = [s for s in standings if s.energy_pj_per_sample is not None]
    if not measured:
        raise StoreError(
            f"dataset {dataset!r} has no full run with an energy measurement in {where}; "
            "run a sweep with this version (e.g. `biril sweep digits_energy`)"
        )
    cheapest = min(measured, key=lambda s: s.energy_pj_per_sample)
    raise StoreError(
        f"no ratio of {dataset!r} fits max_energy {max_energy:g} pJ per sample; the "
        f"cheapest is {cheapest.ratio_int} at {cheapest.energy_pj_per_sample:.4g} "
        "pJ: raise --max-energy"
    )
