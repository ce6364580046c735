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

import math
from collections.abc import Sequence

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

    Totals are tried from small to large and only a strictly closer ratio replaces the
    current one, so among equally close ratios the simplest wins (``0.5, 0.5, 0`` → ``1:1:0``).
    """
    target = fractions(ratio)
    best, best_error = (0, 1, 0), math.inf
    for total in range(1, max_total + 1):
        for a in range(total + 1):
            for b in range(total + 1 - a):
                c = total - a - b
                error = sum(abs(n / total - t) for n, t in zip((a, b, c), target, strict=True))
                if error < best_error - 1e-12:
                    best, best_error = (a, b, c), error
    divisor = math.gcd(math.gcd(best[0], best[1]), best[2])
    return ":".join(str(v // divisor) for v in best)
