"""A smooth estimate of accuracy over the whole ratio simplex, with its uncertainty.

Sweeps sample the simplex sparsely and noisily (one point per trial, seed-to-seed spread of a
percent or so). A Gaussian process turns them into an estimate at every ratio plus a
standard deviation that says where the sweep has not looked. Runs of the same ratio with
different seeds are averaged by the GP's white-noise term, which it fits.

The GP models the log-odds of accuracy, not accuracy itself: the estimate then stays inside
(0, 1) (fitted to accuracy directly, the real digits sweep's surface overshot to 1.03 on an
edge no trial had visited), and 97% → 99% counts as the large step it is (a third of the
errors), not as the same 2 points as 60% → 62%. The standard deviation shown is half the
width of the ±1σ log-odds band mapped back to accuracy.

The GP works in the simplex's own 2-D coordinates (an equilateral triangle), not in
log-ratio coordinates: log-ratios stretch the edges, where sweeps have few points, and on
synthetic peaked surfaces that put spurious maxima on the edges (worst grid error 0.26–0.48
accuracy versus 0.03 in the triangle; 8 seeds × 3 peak positions, 80 runs each).

Example::

    surface = fit_surface(fracs, accuracies)        # fracs: [n, 3], accuracies: [n]
    surface.argmax, surface.max_mean
    mean, std = surface.estimate([[1/12, 8/12, 3/12]])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from analysis.ratios import fractions, simplex_coords, simplex_grid
from results.ratios import ratio_key

# Grid denominator: 1/40 steps, 861 points — finer than any sweep's resolution.
GRID_RESOLUTION = 40
MIN_DISTINCT_RATIOS = 3
# Accuracies are clipped this far inside (0, 1) before the log-odds: 0 and 1 have none.
ACC_CLIP = 1e-4


@dataclass(frozen=True)
class Surface:
    """GP estimate of a metric over the simplex, evaluated on ``grid`` (fractions [m, 3])."""

    model: object
    grid: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n_runs: int
    n_ratios: int

    @property
    def argmax(self) -> np.ndarray:
        """The grid ratio (fractions) with the highest estimated mean."""
        return self.grid[int(np.argmax(self.mean))]

    @property
    def max_mean(self) -> float:
        return float(self.mean.max())

    def estimate(self, ratios) -> tuple[np.ndarray, np.ndarray]:
        """Estimated accuracy and its standard deviation at the given ratios (3 weights each)."""
        points = np.stack([fractions(r) for r in np.atleast_2d(ratios)])
        return _predict(self.model, points)


def fit_surface(
    fracs: np.ndarray, values: np.ndarray, resolution: int = GRID_RESOLUTION
) -> Surface:
    """Fit a GP to runs (``fracs`` [n, 3] fractions, ``values`` [n]) and grid it.

    Raises ValueError with fewer than ``MIN_DISTINCT_RATIOS`` distinct ratios, since a
    surface through one or two points says nothing about the rest of the simplex.
    """
    from scipy.special import logit
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    fracs = np.atleast_2d(np.asarray(fracs, dtype=float))
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    fracs, values = fracs[keep], values[keep]
    if np.any((values < 0) | (values > 1)):
        raise ValueError("surface values must be accuracies in [0, 1]")
    n_ratios = len({ratio_key(f) for f in fracs})
    if n_ratios < MIN_DISTINCT_RATIOS:
        raise ValueError(
            f"a surface needs runs at >= {MIN_DISTINCT_RATIOS} distinct ratios, "
            f"got {n_ratios}"
        )
    # Length scale in triangle units (side 1): from a twentieth of the simplex (finer than any
    # sweep resolves) to twice its size (nearly flat). Noise is relative to the normalized
    # log-odds and bounded below 1 so the GP cannot explain everything as noise.
    kernel = ConstantKernel(1.0, (1e-2, 1e3)) * RBF(
        length_scale=0.3, length_scale_bounds=(0.05, 2.0)
    ) + WhiteKernel(noise_level=0.1, noise_level_bounds=(1e-5, 1.0))
    model = GaussianProcessRegressor(
        kernel=kernel, normalize_y=True, n_restarts_optimizer=1, random_state=0
    )
    with warnings.catch_warnings(), single_threaded():
        # A hyperparameter at its bound (e.g. a nearly flat surface) still gives a usable
        # fit; the warning would only clutter `biril report`'s output.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(simplex_coords(fracs), logit(np.clip(values, ACC_CLIP, 1 - ACC_CLIP)))
        grid = simplex_grid(resolution)
        mean, std = _predict(model, grid)
    return Surface(
        model=model, grid=grid, mean=mean, std=std, n_runs=len(values), n_ratios=n_ratios
    )


def single_threaded():
    """BLAS on one thread while a GP fits: its matrices (at most ``MAX_FIT_POINTS``², see
    ``analysis.subset``) gain nothing from more, and on a CPU shared with other jobs
    OpenBLAS's waiting threads made a 500-point fit 5-10x slower (1.6 s against 9 s)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _predict(model, fracs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy estimate and std at ratios, mapped back from the GP's log-odds."""
    from scipy.special import expit

    mean, std = model.predict(simplex_coords(fracs), return_std=True)
    return expit(mean), (expit(mean + std) - expit(mean - std)) / 2
