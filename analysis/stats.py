"""Seed statistics per ratio: which ratio is best, and how sure are we.

A ratio is judged on full runs only (an early-stopped trial's accuracy is from an earlier
epoch, so it would drag its ratio down). Runs of the same ratio within one sweep — other
seeds, the confirmation stage — are pooled: runs sharing a seed are averaged first, so a seed
repeated in both stages counts once, then the mean and a Student-t 95% interval are taken
over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.ratios import closest_int_ratio, ratio_key

METRICS = ("val_acc", "test_acc")
SUMMARY_COLUMNS = [
    "dataset", "sweep", "study", "ratio_stdp", "ratio_stbp", "ratio_stdp_stbp", "ratio_int",
    "n_seeds", "seeds", "val_acc", "val_ci_low", "val_ci_high", "test_acc", "test_ci_low",
    "test_ci_high", "trial_id", "trial_number", "checkpoint", "energy_pj_per_sample",
]


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Student-t confidence interval of the mean; None with fewer than two values."""
    from scipy import stats

    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if data.size < 2:
        return None
    mean = float(data.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, data.size - 1) * data.std(ddof=1))
    half /= math.sqrt(data.size)
    return (mean - half, mean + half)


def full_runs(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed trials that trained every planned epoch."""
    return trials[(trials["state"] == "COMPLETE") & trials["full_run"].astype(bool)]


def summarize_ratios(trials: pd.DataFrame, metric: str = "val_acc") -> pd.DataFrame:
    """One row per (study, ratio) over full runs, best mean ``metric`` first.

    ``trial_id``/``trial_number``/``checkpoint`` name the group's best single run by
    ``metric``, the one to load when the ratio is used.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    runs = full_runs(trials).dropna(subset=[metric])
    rows = []
    if not runs.empty:
        keys = [
            ratio_key(r)
            for r in runs[["ratio_stdp", "ratio_stbp", "ratio_stdp_stbp"]].to_numpy()
        ]
        runs = runs.assign(_key=keys)
        for _, group in runs.groupby(["study", "_key"], sort=False):
            rows.append(_summarize_group(group, metric))
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return summary.sort_values(
        [metric, "n_seeds"], ascending=False, ignore_index=True, na_position="last"
    )


def _summarize_group(group: pd.DataFrame, metric: str) -> dict:
    """Mean and CI over seeds (runs sharing a seed averaged first) for one ratio."""
    per_seed = group.groupby("seed")[list(METRICS)].mean()
    fracs = group[["ratio_stdp", "ratio_stbp", "ratio_stdp_stbp"]].mean().to_numpy()
    best = group.loc[group[metric].idxmax()]
    val_ci = t_interval(per_seed["val_acc"].tolist())
    test_ci = t_interval(per_seed["test_acc"].tolist())
    return {
        "dataset": best["dataset"],
        "sweep": best["sweep"],
        "study": best["study"],
        "ratio_stdp": fracs[0],
        "ratio_stbp": fracs[1],
        "ratio_stdp_stbp": fracs[2],
        "ratio_int": closest_int_ratio(fracs),
        "n_seeds": len(per_seed),
        "seeds": sorted(int(s) for s in per_seed.index),
        "val_acc": per_seed["val_acc"].mean(),
        "val_ci_low": val_ci[0] if val_ci else math.nan,
        "val_ci_high": val_ci[1] if val_ci else math.nan,
        "test_acc": per_seed["test_acc"].mean(),
        "test_ci_low": test_ci[0] if test_ci else math.nan,
        "test_ci_high": test_ci[1] if test_ci else math.nan,
        "trial_id": best["trial_id"],
        "trial_number": int(best["trial_number"]),
        "checkpoint": best["checkpoint"],
        # Mean over the ratio's full runs; NaN where the sweep predates energy counting.
        "energy_pj_per_sample": group["energy_pj_per_sample"].mean()
        if "energy_pj_per_sample" in group
        else math.nan,
    }
