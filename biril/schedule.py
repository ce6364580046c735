"""The mode a ratio ``STDP : STBP : STDP-STBP`` (``results.ratios.Ratio``) assigns to each
training step.

A ratio is a point on the 2-simplex. ``interleaved`` order keeps every mode's count within
one of its share at every step, so even a short or early-stopped run sees the ratio it was
asked for; ``blocked`` reproduces the paper's literal cycles of ``a``, ``b``, ``c`` steps.
"""

from __future__ import annotations

import enum
from fractions import Fraction
from typing import Literal

from results.ratios import SHARE_NAMES, Ratio, RatioError

Order = Literal["interleaved", "blocked"]


class Mode(str, enum.Enum):
    """The three BIRIL mechanisms, in tie-breaking order."""

    STDP = SHARE_NAMES[0]
    STBP = SHARE_NAMES[1]
    STDP_STBP = SHARE_NAMES[2]


MODES: tuple[Mode, ...] = (Mode.STDP, Mode.STBP, Mode.STDP_STBP)


def modes(ratio: Ratio | str, n: int, order: Order = "interleaved") -> list[Mode]:
    """The mode of each of ``n`` consecutive steps (iterations, or epochs).

    ``interleaved``: step ``k`` takes the mode with the largest deficit ``(k+1)·p_m − n_m``
    (ties go to STDP, then STBP, then STDP-STBP). ``blocked``: cycles of ``a`` STDP, ``b``
    STBP, then ``c`` STDP-STBP steps; integer ratios only.
    """
    ratio = Ratio.parse(ratio)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if order == "blocked":
        if not ratio.is_integer:
            raise RatioError(f"blocked order needs an integer ratio like 1:8:3, got {ratio}")
        cycle = [m for m, p in zip(MODES, ratio.parts, strict=True) for _ in range(int(p))]
        return [cycle[k % len(cycle)] for k in range(n)]
    if order != "interleaved":
        raise ValueError(f"order must be 'interleaved' or 'blocked', got {order!r}")
    # Exact rational arithmetic: float round-off would break ties inconsistently.
    parts = [Fraction(p) for p in ratio.parts]
    total = sum(parts)
    counts = [0, 0, 0]
    out = []
    for k in range(n):
        deficits = [(k + 1) * p - c * total for p, c in zip(parts, counts, strict=True)]
        m = max(range(3), key=lambda i: (deficits[i], -i))
        counts[m] += 1
        out.append(MODES[m])
    return out


def mode_counts(seq: list[Mode]) -> dict[str, int]:
    """``{"stdp": n, "stbp": n, "stdp_stbp": n}`` for a sequence of modes."""
    counts = {m.value: 0 for m in MODES}
    for m in seq:
        counts[m.value] += 1
    return counts
