"""``best_ratio(dataset)``: the ratio to train with, as measured by the sweeps in the store.

The answer is ``results.ranking``'s one rule over every sweep of the dataset in the store,
the same rule ``biril sweep``'s summary and the report use, on the same ``Run`` per trial
as the summary (``results.runs.run_of``). It reads only what that needs — the full runs'
objective values and ``RUN_ATTRS``, no curves — and imports neither pandas nor Optuna, so
``biril best`` answers in about a second on a store of 10,000 trials.

Example::

    import analysis
    best = analysis.best_ratio("digits")          # $BIRIL_RESULTS or ./biril-results
    print(best.ratio_int, best.val_acc, best.ci, best.n_seeds, best.vs_stbp, best.verdict)
"""

from __future__ import annotations

import os

from analysis.tables import OpenStore, StudyRef, find_studies, open_store, read_trials
from results.errors import StoreError
from results.ranking import Best as BestRatio
from results.ranking import rank
from results.runs import RUN_ATTRS, Run, run_of

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
    with open_store(storage) as store:
        studies = find_studies(store)
        runs = read_runs(store, [s for s in studies if s.dataset == dataset])
        ranking = rank(runs, max_energy=max_energy)
        if ranking.best is not None:
            return ranking.best
        if max_energy is not None and runs:
            _no_ratio_within(runs, dataset, max_energy, store.shown)
        others = read_runs(store, [s for s in studies if s.dataset != dataset])
    with_results = sorted({run.dataset for run in others})
    raise StoreError(
        f"dataset {dataset!r} has no full run in {store.shown}; datasets with results: "
        f"{', '.join(with_results) or 'none'}"
    )


def read_runs(store: OpenStore, studies: list[StudyRef]) -> list[Run]:
    """The full runs of ``studies``: one ``Run`` per trial that counts, in trial order."""
    trials = read_trials(store, studies, keys=RUN_ATTRS, full_runs=True) if studies else {}
    runs = []
    for study in studies:
        for trial in trials[study.name]:
            try:
                run = run_of(trial, study.dataset, study.sweep, study.name)
            except (TypeError, ValueError) as err:
                raise StoreError(
                    f"study {study.name!r} trial {trial.number} has a malformed ratio attr: {err}"
                ) from err
            if run is not None:
                runs.append(run)
    return runs


def _no_ratio_within(runs: list[Run], dataset: str, max_energy: float, where: str) -> None:
    """Raise the StoreError that says why no ratio fits ``max_energy``."""
    standings = rank(runs).standings
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
