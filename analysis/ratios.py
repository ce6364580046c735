"""Points on the STDP : STBP : STDP-STBP simplex as arrays: coordinates, grids, references.

Ratio identity, names, the paper's ratios and the share labels are the results contract's
(``results.ratios``); this module gives the surface fit and the plots their geometry,
without importing the trainer (and so torch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from results.ratios import fractions as shares

# The paper's reported best ratio per dataset, shown beside ours on the comparison page.
PAPER_BEST = {"mnist": "1:6:2", "cifar10": "1:8:3", "cifar100": "1:8:3", "dvs128_gesture": "2:6:1"}

def fractions(ratio: str | Sequence[float]) -> np.ndarray:
    """``results.ratios.fractions`` as an array, for the surface and plot arithmetic."""
    return np.asarray(shares(ratio), dtype=float)


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
