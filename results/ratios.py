"""The ratio ``STDP : STBP : STDP-STBP``: one immutable type, its names and its identity.

``Ratio`` is the only ratio parser and the only place a ratio's shares, its lattice name,
its E/I reading and its identity are computed; the trainer, the sweeps, the store and the
analysis all use it. Text appears only at the edges (a flag, a YAML file, JSON, the store),
and ``str(Ratio)`` loses nothing: integer parts print as integers, others as the shortest
decimal that reads back to the same float.

Two ratios are the same ratio when their shares agree to ``KEY_DECIMALS`` decimals: far
below any difference a schedule can express (shares 1e-6 apart assign the same mode to every
iteration of a run shorter than a million steps, within the one-step slack the schedule
already has), far above the float noise of normalizing ``1:8:3`` or mapping a warm start
through the search space and back (~1e-16). Seeds, stages and confirmation variants of one
ratio therefore group together, and nothing else does. Equality and hashing both use that
rounded key, so they agree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import UserError, quote

if TYPE_CHECKING:
    import numpy as np

KEY_DECIMALS = 6
Shares = tuple[float, float, float]
# The three mechanisms, in tie-breaking order: the names code and stored keys use (modes,
# mode counts, column names), and the labels people read.
SHARE_NAMES = ("stdp", "stbp", "stdp_stbp")
SHARE_LABELS = ("STDP", "STBP", "STDP-STBP")
# The paper's five mixed ratios (the sweeps' warm-start points) and the pure baselines.
PAPER_RATIOS = ("1:4:1", "1:6:2", "2:6:1", "1:8:3", "3:8:1")
BASELINES = {"STDP only": "1:0:0", "STBP only": "0:1:0", "STDP-STBP only": "0:0:1"}
# Pure STBP, the baseline every best ratio is compared against.
PURE_STBP: Shares = (0.0, 1.0, 0.0)
# The largest a+b+c of the ``a:b:c`` names ratios are read by.
LATTICE_TOTAL = 12


class RatioError(UserError, ValueError):
    """A ratio that is not a valid point on the simplex."""


@dataclass(frozen=True, eq=False)
class Ratio:
    """Non-negative weights ``(stdp, stbp, stdp_stbp)`` with a positive sum, as given.

    >>> Ratio.parse("1:8:3").fractions
    (0.08333333333333333, 0.6666666666666666, 0.25)
    >>> Ratio.parse("1:8:3") == Ratio.parse([2, 16, 6])
    True
    """

    stdp: float
    stbp: float
    stdp_stbp: float

    def __post_init__(self) -> None:
        for name, part in zip(SHARE_LABELS, self.parts, strict=True):
            if not isinstance(part, int | float) or isinstance(part, bool):
                raise RatioError(f"{name} part must be a number, got {quote(part)}")
            if not math.isfinite(part) or part < 0:
                raise RatioError(f"{name} part must be finite and >= 0, got {part}")
        if sum(self.parts) <= 0:
            raise RatioError("at least one part must be > 0 (e.g. 1:8:3)")

    @classmethod
    def parse(cls, value: str | Ratio | Sequence[float]) -> Ratio:
        """Read ``"a:b:c"`` or a 3-sequence; parts may be integers or decimals."""
        if isinstance(value, Ratio):
            return value
        parts = str(value).strip().split(":") if isinstance(value, str) else list(value)
        if len(parts) != 3:
            raise RatioError(
                f"expected three parts STDP:STBP:STDP-STBP like 1:8:3, got {quote(value)}"
            )
        values = []
        for p in parts:
            try:
                values.append(float(p))
            except (TypeError, ValueError):
                raise RatioError(
                    f"parts must be numbers like 1:8:3, got {quote(p)} in {quote(value)}"
                ) from None
        return cls(*[int(v) if v.is_integer() else v for v in values])

    @property
    def parts(self) -> Shares:
        return (self.stdp, self.stbp, self.stdp_stbp)

    @property
    def fractions(self) -> Shares:
        """The shares, summing to 1 (exactly what the store records for a trial)."""
        total = sum(self.parts)
        a, b, c = (p / total for p in self.parts)
        return (a, b, c)

    @property
    def is_integer(self) -> bool:
        return all(float(p).is_integer() for p in self.parts)

    @property
    def inhibitory_share(self) -> float:
        """The paper's E/I reading: ``(STDP + STDP-STBP) / total``."""
        a, _, c = self.fractions
        return a + c

    @property
    def has_stdp(self) -> bool:
        """Whether the ratio runs STDP at all: the frozen control (``stdp_lr`` 0) of a ratio
        without is the ratio itself."""
        return self.inhibitory_share > 0

    @property
    def key(self) -> Shares:
        """The identity of the ratio: its shares rounded to ``KEY_DECIMALS`` (hashable)."""
        a, b, c = (round(x, KEY_DECIMALS) + 0.0 for x in self.fractions)  # + 0.0: no -0.0
        return (a, b, c)

    def lattice_name(self, max_total: int = LATTICE_TOTAL) -> str:
        """The nearest ``a:b:c`` with ``a+b+c <= max_total`` (see ``closest_int_ratios``)."""
        return closest_int_ratios([self.fractions], max_total)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ratio) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return ":".join(str(int(p)) if p == int(p) else repr(float(p)) for p in self.parts)


def fractions(ratio: str | Sequence[float] | Ratio) -> Shares:
    """``Ratio.parse(ratio).fractions``: the shares of a stored or typed ratio."""
    return Ratio.parse(ratio).fractions


def has_stdp(ratio: str | Sequence[float] | Ratio) -> bool:
    return Ratio.parse(ratio).has_stdp


def ratio_key(ratio: str | Sequence[float] | Ratio) -> Shares:
    """``Ratio.parse(ratio).key``: what groups stored trials of one ratio."""
    return Ratio.parse(ratio).key


def closest_int_ratio(ratio: str | Sequence[float] | Ratio, max_total: int = LATTICE_TOTAL) -> str:
    """``Ratio.parse(ratio).lattice_name(max_total)``."""
    return Ratio.parse(ratio).lattice_name(max_total)


def closest_int_ratios(
    shares: Sequence[Sequence[float]], max_total: int = LATTICE_TOTAL
) -> list[str]:
    """``closest_int_ratio`` of many ratios (each given as shares summing to 1) at once.

    The candidates form a fixed lattice (455 points for 12), so the L1 distance of every
    ratio to every candidate is one array operation — a Python loop over the lattice per
    ratio was 5 ms each, the cost of reading a large store.
    """
    import numpy as np  # here, not at the top: `biril --help` reads Ratio, never the lattice

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
    import numpy as np

    return np.array(points), tuple(names)
