"""Points on the STDP : STBP : STDP-STBP simplex: parsing, naming, coordinates, grids.

A ratio is stored as three fractions summing to 1 (the results-store contract); people read
and type ratios as small integers (``1:8:3``). This module converts between the two and gives
the surface fit its coordinates, without importing the trainer (and so torch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

COMPONENTS = ("stdp", "stbp", "stdp_stbp")
LABELS = ("STDP", "STBP", "STDP-STBP")

# The paper's five mixed ratios (also the sweeps' warm-start points) and the pure baselines.
PAPER_RATIOS = ("1:4:1", "1:6:2", "2:6:1", "1:8:3", "3:8:1")
BASELINES = {"STDP only": "1:0:0", "STBP only": "0:1:0", "STDP-STBP only": "0:0:1"}
# The paper's reported best ratio per dataset, shown beside ours on the comparison page.
PAPER_BEST = {"mnist": "1:6:2", "cifar10": "1:8:3", "cifar100": "1:8:3", "dvs128_gesture": "2:6:1"}

# Ratios whose fractions agree to this many decimals are the same ratio (seeds, stages).
KEY_DECIMALS = 3


def fractions(ratio: str | Sequence[float]) -> np.ndarray:
    """Three non-negative weights (``"1:8:3"`` or a 3-sequence) as fractions summing to 1."""
    if isinstance(ratio, str):
        parts = ratio.split(":")
        try:
            weights = [float(p) for p in parts]
        except ValueError:
            weights = []
        if len(weights) != 3:
            raise ValueError(f"ratio {ratio!r} is not of the form a:b:c (e.g. 1:8:3)")
    else:
        weights = [float(w) for w in ratio]
        if len(weights) != 3:
            raise ValueError(f"ratio {list(ratio)!r} must have 3 entries (stdp, stbp, stdp_stbp)")
    values = np.asarray(weights, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise ValueError(f"ratio {ratio!r} needs non-negative weights with a positive sum")
    return values / values.sum()


def closest_int_ratio(fracs: Sequence[float], max_total: int = 12) -> str:
    """The ``a:b:c`` with ``a+b+c <= max_total`` nearest (L1) to ``fracs``, in lowest terms.

    Totals are tried from small to large and only a strictly closer ratio replaces the current
    one, so among equally close ratios the simplest wins (``0.5, 0.5, 0`` → ``1:1:0``).
    """
    target = fractions(fracs)
    best, best_error = (0, 1, 0), math.inf
    for total in range(1, max_total + 1):
        for a in range(total + 1):
            for b in range(total + 1 - a):
                c = total - a - b
                error = float(np.abs(np.array([a, b, c]) / total - target).sum())
                if error < best_error - 1e-12:
                    best, best_error = (a, b, c), error
    divisor = math.gcd(math.gcd(best[0], best[1]), best[2])
    return ":".join(str(v // divisor) for v in best)


def ratio_key(fracs: Sequence[float]) -> tuple[float, float, float]:
    """Hashable identity of a ratio: its fractions rounded to ``KEY_DECIMALS``."""
    a, b, c = (round(float(v), KEY_DECIMALS) for v in fractions(fracs))
    return (a, b, c)


def simplex_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Euclidean distance between two ratios' fraction vectors (0 … √2 between vertices)."""
    return float(np.linalg.norm(fractions(p) - fractions(q)))


def simplex_grid(resolution: int) -> np.ndarray:
    """All fraction vectors with denominators ``resolution``: shape ``[(r+1)(r+2)/2, 3]``."""
    if resolution < 1:
        raise ValueError(f"grid resolution must be >= 1, got {resolution}")
    points = [
        (a, b, resolution - a - b)
        for a in range(resolution + 1)
        for b in range(resolution + 1 - a)
    ]
    return np.asarray(points, dtype=float) / resolution


def simplex_coords(fracs: np.ndarray) -> np.ndarray:
    """2-D coordinates of ratios in an equilateral triangle of side 1 (STDP at the origin,
    STBP at ``(1, 0)``, STDP-STBP at the apex).

    Distances there are the fractions' Euclidean distances over √2, the same for every pair
    of mechanisms, so an isotropic kernel treats the three mechanisms alike.
    """
    points = np.atleast_2d(np.asarray(fracs, dtype=float))
    return np.stack([points[:, 1] + points[:, 2] / 2, points[:, 2] * math.sqrt(3) / 2], axis=1)
