"""Seed statistics per ratio, as pandas: the one rule of ``results.ranking`` on a trials frame.

A ratio is judged on full runs only (the ``full_run`` column is ``results.runs.is_full_run``).
Runs of the same ratio and searched params within one sweep — other seeds, the confirmation
stage — are pooled: runs sharing a seed are averaged first, then the mean and the rule's 95%
interval are taken over seeds, and ratios are ranked by the interval's lower end (see
``results.ranking``). Frozen controls are not ranked; they measure ``stdp_effect``.
"""

from __future__ import annotations

import math

import pandas as pd

from results.ranking import Ranking, rank
from results.runs import Run
from results.schema import PROBE_KEYS

SUMMARY_COLUMNS = [
    "dataset", "sweep", "study", "ratio_stdp", "ratio_stbp", "ratio_stdp_stbp", "ratio_int",
    "params", "n_seeds", "seeds", "val_acc", "val_ci_low", "val_ci_high", "score", "p_vs_best",
    "indistinguishable", "test_acc", "trial_id", "trial_number", "checkpoint",
    "energy_pj_per_sample", *PROBE_KEYS.values(),
]


def full_runs(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that count: completed, every planned epoch trained."""
    return trials[trials["full_run"].astype(bool)]


def rank_trials(trials: pd.DataFrame, max_energy: float | None = None) -> Ranking:
    """``results.ranking.rank`` over the full runs of a trials frame (``load_trials``)."""
    return rank(runs_of(trials), max_energy=max_energy)


def runs_of(trials: pd.DataFrame) -> list[Run]:
    """The ``results.runs.Run`` of every full run of a trials frame."""
    runs = full_runs(trials).dropna(subset=["val_acc"])
    return [
        Run(
            dataset=row.dataset,
            sweep=row.sweep,
            study=row.study,
            ratio=(row.ratio_stdp, row.ratio_stbp, row.ratio_stdp_stbp),
            seed=int(row.seed),
            val_acc=row.val_acc,
            test_acc=_or_none(row.test_acc),
            energy_pj_per_sample=_or_none(row.energy_pj_per_sample),
            val_size=None if math.isnan(row.val_size) else int(row.val_size),
            trial_number=int(row.trial_number),
            trial_id=_or_none(row.trial_id),
            checkpoint=_or_none(row.checkpoint),
            params=row.params,
            overrides=row.overrides,
            probe={
                pool: value for pool, key in PROBE_KEYS.items()
                if (value := _or_none(getattr(row, key))) is not None
            },
        )
        for row in runs.itertuples()
    ]


def summarize_ratios(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (study, ratio) over full runs, best first by the rule (``SUMMARY_COLUMNS``).

    ``trial_id``/``trial_number``/``checkpoint`` name the ratio's best single run, the one
    to load when the ratio is used; ``p_vs_best`` is the t-test of its gap to the best.
    """
    return standings_frame(rank_trials(trials))


def standings_frame(ranking: Ranking) -> pd.DataFrame:
    """A ranking's standings as a frame, best first."""
    rows = [
        {
            **s.model_dump(exclude={"ratio", "ci", "score"}),
            "ratio_stdp": s.ratio[0],
            "ratio_stbp": s.ratio[1],
            "ratio_stdp_stbp": s.ratio[2],
            "val_ci_low": s.ci[0] if s.ci else math.nan,
            "val_ci_high": s.ci[1] if s.ci else math.nan,
            "score": math.nan if s.score is None else s.score,
            "indistinguishable": s.indistinguishable,
            **{key: s.probe.get(pool, math.nan) for pool, key in PROBE_KEYS.items()},
        }
        for s in ranking.standings
    ]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _or_none(value: object) -> object:
    """A cell's value, with pandas' missing markers (None, NaN) as None."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
