"""How two configs of a sweep are compared: paired by seed where they share seeds, Holm-adjusted.

A seed fixes a run's initial weights and the order of its batches, and every config of a
sweep is validated on the same images. Two configs run on the same seeds therefore share
most of their run-to-run noise, and the difference seed by seed cancels it: the **paired**
t-test on those differences (``d̄ ± t(0.975, n − 1) · s_d / √n``) is what the data
supports. Only where two configs share fewer than two seeds (the search ran each ratio
once, on the same search seed) is there no spread of differences to measure; there the
comparison falls back to the **unpaired** test on the sweep's pooled SD (``ranking``).

``s_d`` is floored at one validation image (``1/N``): differences come in whole images, and
two or three pairs that agree to the image do not show that the spread is zero.

**Holm.** The best config is compared with every other one; at α = 0.05 each, one of twenty
true ties would look distinguishable by chance, so the more configs a sweep ranks, the more
ties it would wrongly break. Holm's step-down correction (``holm``) keeps the chance of any
false "significantly below the best" at 5% over the whole family, without Bonferroni's loss
of power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, stdev

from .tdist import t_quantile, two_sided_p

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Gap:
    """``a`` minus ``b``: the difference of means, its 95% CI, the two-sided p, and how."""

    diff: float
    ci: tuple[float, float]
    p: float
    paired: bool
    # Paired: the number of shared seeds; unpaired: None.
    n_pairs: int | None = None


def shared_seed_diffs(a: dict[int, float], b: dict[int, float]) -> list[float]:
    """``a − b`` on each seed both ran, in seed order."""
    return [a[seed] - b[seed] for seed in sorted(a.keys() & b.keys())]


def paired_gap(diffs: list[float], floor: float = 0.0) -> Gap | None:
    """The paired t-test of these per-seed differences (None: under two, or no spread).

    ``floor``: the least SD of a difference to assume (one validation image, ``1/N``).
    """
    n = len(diffs)
    if n < 2:
        return None
    sd = max(stdev(diffs), floor)
    if sd == 0.0:
        return None
    d = mean(diffs)
    se = sd / math.sqrt(n)
    half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * se
    return Gap(d, (d - half, d + half), two_sided_p(d / se, n - 1), paired=True, n_pairs=n)


def unpaired_gap(diff: float, se: float, df: float) -> Gap:
    """The t-test of a difference of means with standard error ``se`` and ``df``."""
    half = t_quantile(0.5 + CONFIDENCE / 2, df) * se
    return Gap(diff, (diff - half, diff + half), two_sided_p(diff / se, df), paired=False)


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    Sorted ascending, the ``i``-th smallest of ``m`` becomes ``(m − i) · p`` (``i`` from 0),
    kept non-decreasing and capped at 1; a hypothesis is rejected at α when its adjusted p
    is below α.
    """
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for i, k in enumerate(sorted(range(m), key=lambda k: ps[k])):
        running = max(running, min(1.0, (m - i) * ps[k]))
        adjusted[k] = running
    return adjusted


def within_unit(ci: tuple[float, float]) -> tuple[float, float]:
    """An accuracy interval cut to [0, 1].

    The true accuracy lies in [0, 1], so dropping the part outside loses no plausible
    value: the cut interval covers the truth exactly as often as the t-interval did, and
    its lower end — what the ranking rule ranks by — is unchanged wherever it was above 0.
    """
    return max(0.0, ci[0]), min(1.0, ci[1])
