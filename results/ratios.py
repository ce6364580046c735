"""Ratio identity: when two stored ratios are the same ratio, and the name people read.

A ratio is stored as its three shares ``[stdp, stbp, stdp_stbp]`` summing to one. Two
trials ran the same ratio when their shares agree to ``KEY_DECIMALS`` decimals: far below
any difference a schedule can express (shares 1e-6 apart assign the same mode to every
iteration of a run shorter than a million steps, within the one-step slack the schedule
already has), far above the float noise of normalizing ``1:8:3`` or mapping a warm start
through the search space and back (~1e-16). Seeds, stages and confirmation variants of one
ratio therefore group together, and nothing else does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

KEY_DECIMALS = 6
Shares = tuple[float, float, float]
# Pure STBP, the baseline every best ratio is compared against.
PURE_STBP: Shares = (0.0, 1.0, 0.0)


def fractions(ratio: str | Sequence[float]) -> Shares:
    """Three non-negative weights (``"1:8:3"`` or a 3-sequence) as shares summing to 1."""
    if isinstance(ratio, str):
        try:
            weights = [float(p) for p in ratio.split(":")]
        except ValueError:
            weights = []
        if len(weights) != 3:
            raise ValueError(f"ratio {ratio!r} is not of the form a:b:c (e.g. 1:8:3)")
    else:
        weights = [float(w) for w in ratio]
        if len(weights) != 3:
            raise ValueError(f"ratio {list(ratio)!r} must have 3 entries (stdp, stbp, stdp_stbp)")
    total = sum(weights)
    if not all(math.isfinite(w) and w >= 0 for w in weights) or total <= 0:
        raise ValueError(f"ratio {ratio!r} needs non-negative weights with a positive sum")
    a, b, c = (w / total for w in weights)
    return (a, b, c)


def has_stdp(ratio: str | Sequence[float]) -> bool:
    """Whether the ratio runs STDP at all (an STDP or STDP-STBP share): the frozen control
    (``stdp_lr`` 0) of a ratio without is the ratio itself."""
    stdp, _, stdp_stbp = fractions(ratio)
    return stdp + stdp_stbp > 0


def ratio_key(ratio: str | Sequence[float]) -> Shares:
    """The identity of a ratio: its shares rounded to ``KEY_DECIMALS`` (hashable)."""
    a, b, c = (round(x, KEY_DECIMALS) + 0.0 for x in fractions(ratio))  # + 0.0: no -0.0
    return (a, b, c)


def closest_int_ratio(ratio: str | Sequence[float], max_total: int = 12) -> str:
    """The ``a:b:c`` with ``a+b+c <= max_total`` nearest (L1) to ``ratio``, in lowest terms.

    Among equally close ratios (within 1e-12) the simplest wins — the one of smallest
    total, then smallest ``a``, then ``b`` (``0.5, 0.5, 0`` → ``1:1:0``).
    """
    return closest_int_ratios([fractions(ratio)], max_total)[0]


def closest_int_ratios(shares: Sequence[Sequence[float]], max_total: int = 12) -> list[str]:
    """``closest_int_ratio`` of many ratios (each given as shares summing to 1) at once.

    The candidates form a fixed lattice (455 points for 12), so the L1 distance of every
    ratio to every candidate is one array operation — a Python loop over the lattice per
    ratio was 5 ms each, the cost of reading a large store.
    """
    points, names = _lattice(max_total)
    target = np.asarray(shares, dtype=float).reshape(-1, 3)
    chosen = np.empty(len(target), dtype=np.intp)
    for start in range(0, len(target), _CHUNK):
        block = target[start : start + _CHUNK]
        error = sum(np.abs(block[:, [i]] - points[:, i]) for i in range(3))
        # The first candidate (simplest) within 1e-12 of the nearest.
        chosen[start : start + _CHUNK] = np.argmax(
            error <= error.min(axis=1, keepdims=True) + 1e-12, axis=1
        )
    return [names[i] for i in chosen]


# Rows of the distance matrix computed at once: 2048 × 455 doubles, a few MB per array.
_CHUNK = 2048


@functools.cache
def _lattice(max_total: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Every ``a:b:c`` with total 1..max_total, simplest first, as shares and as names."""
    points, names = [], []
    for total in range(1, max_total + 1):
        for a in range(total + 1):
            for b in range(total + 1 - a):
                c = total - a - b
                divisor = math.gcd(math.gcd(a, b), c)
                points.append((a / total, b / total, c / total))
                names.append(f"{a // divisor}:{b // divisor}:{c // divisor}")
    return np.array(points), tuple(names)
