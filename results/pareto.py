"""The accuracy-versus-energy Pareto rule, shared by the sweep's end summary and the report.

Numpy only (imported by nothing else in ``results``), so the sweep summary can use it on
Optuna trials without pandas or plotly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def non_dominated(accuracy: Sequence[float], energy: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point dominates (max accuracy, min energy).

    A point is dominated when another is at least as accurate and at most as costly, and
    strictly better in one of the two; identical points do not dominate each other.
    """
    acc = np.asarray(accuracy, dtype=float)
    cost = np.asarray(energy, dtype=float)
    no_worse = (acc[None, :] >= acc[:, None]) & (cost[None, :] <= cost[:, None])
    better = (acc[None, :] > acc[:, None]) | (cost[None, :] < cost[:, None])
    return ~(no_worse & better).any(axis=1)
