"""The ratio ``STDP : STBP : STDP-STBP`` and the mode it assigns to each training step.

A ratio is a point on the 2-simplex. ``interleaved`` order keeps every mode's count within
one of its share at every step, so even a short or early-stopped run sees the ratio it was
asked for; ``blocked`` reproduces the paper's literal cycles of ``a``, ``b``, ``c`` steps.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Order = Literal["interleaved", "blocked"]


class Mode(str, enum.Enum):
    """The three BIRIL mechanisms, in tie-breaking order."""

    STDP = "stdp"
    STBP = "stbp"
    STDP_STBP = "stdp_stbp"


MODES: tuple[Mode, ...] = (Mode.STDP, Mode.STBP, Mode.STDP_STBP)


class RatioError(ValueError):
    """A ratio that is not a valid point on the simplex."""


@dataclass(frozen=True)
class Ratio:
    """Non-negative weights ``(stdp, stbp, stdp_stbp)`` with a positive sum.

    >>> Ratio.parse("1:8:3").fractions
    (0.08333333333333333, 0.6666666666666666, 0.25)
    """

    stdp: float
    stbp: float
    stdp_stbp: float

    def __post_init__(self) -> None:
        for name, part in zip(("STDP", "STBP", "STDP-STBP"), self.parts, strict=True):
            if not isinstance(part, int | float) or isinstance(part, bool):
                raise RatioError(f"{name} part must be a number, got {part!r}")
            if not math.isfinite(part) or part < 0:
                raise RatioError(f"{name} part must be finite and >= 0, got {part}")
        if sum(self.parts) <= 0:
            raise RatioError("at least one part must be > 0 (e.g. 1:8:3)")

    @classmethod
    def parse(cls, text: str | Ratio | tuple | list) -> Ratio:
        """Read ``"a:b:c"`` (or a 3-sequence); numbers may be integers or decimals."""
        if isinstance(text, Ratio):
            return text
        if isinstance(text, tuple | list):
            parts = list(text)
        else:
            parts = str(text).strip().split(":")
        if len(parts) != 3:
            raise RatioError(
                f"expected three parts STDP:STBP:STDP-STBP like 1:8:3, got {text!r}"
            )
        values = []
        for p in parts:
            try:
                values.append(float(p))
            except (TypeError, ValueError):
                raise RatioError(
                    f"parts must be numbers like 1:8:3, got {p!r} in {text!r}"
                ) from None
        return cls(*[int(v) if float(v).is_integer() else v for v in values])

    @classmethod
    def from_fractions(cls, stdp: float, stbp: float, stdp_stbp: float) -> Ratio:
        return cls(stdp, stbp, stdp_stbp)

    @property
    def parts(self) -> tuple[float, float, float]:
        return (self.stdp, self.stbp, self.stdp_stbp)

    @property
    def fractions(self) -> tuple[float, float, float]:
        total = sum(self.parts)
        return tuple(p / total for p in self.parts)  # type: ignore[return-value]

    @property
    def is_integer(self) -> bool:
        return all(float(p).is_integer() for p in self.parts)

    @property
    def inhibitory_share(self) -> float:
        """The paper's E/I reading: ``(STDP + STDP-STBP) / total``."""
        f = self.fractions
        return f[0] + f[2]

    def __str__(self) -> str:
        return ":".join(f"{p:g}" for p in self.parts)


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
