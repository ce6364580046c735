"""What the report fits and draws when a store is large: per-ratio means, then capped,
stratified subsets that keep what the page talks about.

Why: a Gaussian process costs n³ in its points and Plotly's ternary axes have no WebGL
variant, so neither can take every trial of a store of 10,000. The surface is fitted on
one point per ratio — the mean of its runs, seeds pooled (what the GP's noise term would
average anyway) — and when there are more ratios than ``MAX_FIT_POINTS``, on a subset
chosen in tiers: the ratios the page reports on (the top ratios, the pure baselines and the
paper's ratios) always, then one ratio per region of the simplex (so no region the store
reached goes unrepresented), then ratios with a full run, then the rest, each tier taken
round-robin over the regions. Plots of trials
take the same kind of subset of trials (``MAX_DRAWN``). Every choice is seeded, so the same
store gives the same page, and ``method``/``note`` say in words what was kept.

Example::

    points = fit_points(fracs, accuracies, tiers)      # tiers: 0 first, per run
    surface = fit_surface(points.fracs, points.values)
    points.method     # "per-ratio means (seeds pooled): 812 ratios from 3,000 runs"
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from results.ratios import KEY_DECIMALS

# A GP on 500 points fits in about 1.5 s on one core; the report fits two (accuracy, energy).
MAX_FIT_POINTS = 500
# Trials drawn on one ternary plot (SVG: every marker is a DOM node).
MAX_DRAWN = 1500
# Regions for the round-robin: the simplex cut into cells of side 1/12.
CELLS_PER_SIDE = 12
SEED = 0


# What the tiers of a fit are (per ratio): the top ratios, pure baselines and paper's ratios
# the page reports estimates for, ratios with a full run, the rest (stopped early).
FIT_TIERS = ("reported ratios (top, baselines, paper's)", "with a full run", "stopped early only")


@dataclass(frozen=True)
class Subset:
    """Positions kept by a capped subset, and in words what each tier kept."""

    index: np.ndarray
    total: int
    words: str  # "" when nothing was left out


@dataclass(frozen=True)
class FitPoints:
    """The points a surface is fitted on, and in words how they were chosen."""

    fracs: np.ndarray
    values: np.ndarray
    n_runs: int
    n_ratios: int
    method: str


def fit_points(
    fracs: np.ndarray, values: np.ndarray, tiers: np.ndarray, cap: int | None = None
) -> FitPoints:
    """One point per ratio (the mean of its runs), at most ``cap`` (``MAX_FIT_POINTS``).

    ``tiers`` (per run, 0 first; ``FIT_TIERS``) rank what must be kept: a ratio takes the
    best tier of its runs. Non-finite values are left out first.
    """
    fracs = np.atleast_2d(np.asarray(fracs, dtype=float))
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    fracs, values, tiers = fracs[keep], values[keep], np.asarray(tiers)[keep]
    keys, first, inverse = np.unique(
        np.round(fracs, KEY_DECIMALS) + 0.0, axis=0, return_index=True, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=len(keys))
    means = np.bincount(inverse, weights=values, minlength=len(keys)) / np.maximum(counts, 1)
    group_tier = np.full(len(keys), len(FIT_TIERS) - 1, dtype=np.int64)
    np.minimum.at(group_tier, inverse, np.asarray(tiers, dtype=np.int64))
    shares = fracs[first]
    kept = capped(shares, group_tier, MAX_FIT_POINTS if cap is None else cap, FIT_TIERS)
    method = f"per-ratio means (seeds pooled): {len(keys):,} ratios from {len(values):,} runs"
    if kept.words:
        method = (
            f"per-ratio means (seeds pooled) of a stratified subset of {len(values):,} runs: "
            f"{len(kept.index):,} of {len(keys):,} ratios ({kept.words})"
        )
    index = np.sort(kept.index)
    return FitPoints(shares[index], means[index], len(values), len(keys), method)


def capped(fracs: np.ndarray, tiers: np.ndarray, cap: int, names: tuple[str, ...]) -> Subset:
    """At most ``cap`` positions: the first in ``stratified`` order; ``names`` name the
    tiers in the words."""
    fracs = np.atleast_2d(np.asarray(fracs, dtype=float)).reshape(-1, 3)
    tiers = np.asarray(tiers, dtype=np.int64)
    if len(fracs) <= cap:
        return Subset(np.arange(len(fracs)), len(fracs), "")
    index = stratified(fracs, tiers)[:cap]
    kept = np.bincount(tiers[index], minlength=len(names))
    total = np.bincount(tiers, minlength=len(names))
    words = ", ".join(
        f"{'all' if k == t else 'none of' if k == 0 else f'{k:,} of'} {t:,} {name}"
        for name, k, t in zip(names, kept, total, strict=True)
        if t
    )
    return Subset(index, len(fracs), words + "; every region of the simplex represented")


def stratified(fracs: np.ndarray, tiers: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Every position, in the order a capped subset takes them.

    Tier 0 first (what must be kept); then one member per simplex cell — its best-tier
    member — so every region the store reached is represented even when a better tier
    alone could fill the cap (ASHA's full runs crowd the good regions; the early-stopped
    runs are what show the bad ones); then the rest by tier, each tier round-robin over
    the cells. Ties go by a seeded random order.
    """
    n = len(fracs)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    shuffle = np.random.default_rng(seed).permutation(n)
    cell = _cell(fracs)
    tiers = np.asarray(tiers, dtype=np.int64)
    by_cell = np.lexsort((shuffle, tiers, cell))
    first = by_cell[np.r_[True, cell[by_cell][1:] != cell[by_cell][:-1]]]
    covers = np.zeros(n, dtype=bool)
    covers[first] = True
    rank = np.where(tiers == 0, 0, np.where(covers, 1, tiers + 1))
    by_group = np.lexsort((shuffle, cell, rank))
    group = (rank * CELLS_PER_SIDE**2 + cell)[by_group]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    turn = np.empty(n, dtype=np.int64)
    turn[by_group] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.lexsort((shuffle, turn, rank))


def _cell(fracs: np.ndarray) -> np.ndarray:
    """The simplex cell of each ratio: its STDP and STBP shares in steps of 1/12."""
    steps = np.clip((fracs[:, :2] * CELLS_PER_SIDE).astype(np.int64), 0, CELLS_PER_SIDE - 1)
    return steps[:, 0] * CELLS_PER_SIDE + steps[:, 1]
