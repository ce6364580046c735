"""The ratio simplex: the three shares, per-share bounds on them, and the integer lattice.

Both the spec (which validates bounds and lattices) and the search space (which samples
inside them) build on this module, which imports neither.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShareBounds(_Model):
    """Allowed range of one mechanism's share of the iterations (a fraction in [0, 1])."""

    min: float = Field(0.0, ge=0.0, le=1.0)
    max: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> ShareBounds:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class Bounds(_Model):
    """Per-share bounds, e.g. ``stbp: {min: 0.3}`` keeps STBP in at least 30% of the steps."""

    stdp: ShareBounds = ShareBounds()
    stbp: ShareBounds = ShareBounds()
    stdp_stbp: ShareBounds = ShareBounds()

    @model_validator(mode="after")
    def _feasible(self) -> Bounds:
        if sum(self.lows) > 1.0 + 1e-12:
            raise ValueError(f"the minimum shares sum to {sum(self.lows):g} > 1: no ratio fits")
        if sum(self.highs) < 1.0 - 1e-12:
            raise ValueError(f"the maximum shares sum to {sum(self.highs):g} < 1: no ratio fits")
        return self

    @property
    def lows(self) -> tuple[float, float, float]:
        return (self.stdp.min, self.stbp.min, self.stdp_stbp.min)

    @property
    def highs(self) -> tuple[float, float, float]:
        return (self.stdp.max, self.stbp.max, self.stdp_stbp.max)

    def contains(self, fractions: tuple[float, float, float], tol: float = 1e-9) -> bool:
        return all(
            lo - tol <= f <= hi + tol
            for f, lo, hi in zip(fractions, self.lows, self.highs, strict=True)
        )


def lattice_points(total: int, bounds: Bounds) -> list[str]:
    """Every ``a:b:c`` with ``a + b + c = total`` whose shares fit the bounds, in order."""
    points = []
    for a in range(total + 1):
        for b in range(total - a + 1):
            c = total - a - b
            if bounds.contains((a / total, b / total, c / total)):
                points.append(f"{a}:{b}:{c}")
    return points
