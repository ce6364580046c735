"""Accuracy versus energy: the Pareto front of a sweep and an energy surface on the simplex.

Why: the ratio changes firing rates, hence energy, so "which ratio?" has an answer per
energy budget. The front is the set of full runs no other full run beats on both counts
(higher validation accuracy *and* lower energy per sample); the energy surface shows where
on the simplex the energy goes, beside the accuracy surface.

Energy is in pJ per validation sample (``biril.energy``); plots show nJ for readability.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.plots import (
    FRACTION_COLUMNS,
    HEAT_MARKER,
    accuracy_beside,
    finish_beside,
)
from analysis.ratios import simplex_coords, simplex_grid
from analysis.stats import full_runs
from analysis.subset import fit_points
from analysis.surface import GRID_RESOLUTION, MIN_DISTINCT_RATIOS, Surface, single_threaded
from results.pareto import non_dominated
from results.ratios import ratio_key

ENERGY = "energy_pj_per_sample"
PARETO_META = "pareto"


def energy_runs(trials: pd.DataFrame) -> pd.DataFrame:
    """Full runs that carry both validation accuracy and an energy measurement."""
    if ENERGY not in trials:
        return trials.iloc[0:0]
    return full_runs(trials).dropna(subset=["val_acc", ENERGY])


def pareto_front(trials: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated full runs (max ``val_acc``, min energy), cheapest first."""
    runs = energy_runs(trials)
    front = non_dominated(runs["val_acc"].to_numpy(), runs[ENERGY].to_numpy())
    return runs[front].sort_values([ENERGY, "val_acc"], ignore_index=True)


@dataclass(frozen=True)
class EnergySurface:
    """GP estimate of energy per sample (pJ) over the simplex grid (fractions [m, 3])."""

    grid: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def fit_energy_surface(
    fracs: np.ndarray, energies: np.ndarray, resolution: int = GRID_RESOLUTION
) -> EnergySurface:
    """A GP on log energy (positive, and a ratio's effect on it is multiplicative).

    Raises ValueError with fewer than ``MIN_DISTINCT_RATIOS`` distinct ratios.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    fracs = np.atleast_2d(np.asarray(fracs, dtype=float))
    energies = np.asarray(energies, dtype=float)
    keep = np.isfinite(energies) & (energies > 0)
    fracs, energies = fracs[keep], energies[keep]
    n_ratios = len({ratio_key(f) for f in fracs})
    if n_ratios < MIN_DISTINCT_RATIOS:
        raise ValueError(
            f"an energy surface needs runs at >= {MIN_DISTINCT_RATIOS} distinct ratios, "
            f"got {n_ratios}"
        )
    kernel = ConstantKernel(1.0, (1e-2, 1e3)) * RBF(0.3, (0.05, 2.0)) + WhiteKernel(
        0.1, (1e-5, 1.0)
    )
    model = GaussianProcessRegressor(
        kernel=kernel, normalize_y=True, n_restarts_optimizer=1, random_state=0
    )
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(simplex_coords(fracs), np.log(energies))
        grid = simplex_grid(resolution)
        log_mean, log_std = model.predict(simplex_coords(grid), return_std=True)
    mean = np.exp(log_mean)
    return EnergySurface(grid, mean, (np.exp(log_mean + log_std) - np.exp(log_mean - log_std)) / 2)


def pareto_figure(trials: pd.DataFrame, title: str) -> go.Figure:
    """Accuracy vs energy: every full run a point coloured by its STDP share, the front joined.

    Points carry ``meta="trials"``, the front line ``meta="pareto"``; hover gives the ratio.
    """
    runs = energy_runs(trials)
    front = pareto_front(trials)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=front[ENERGY] / 1e3, y=front["val_acc"], mode="lines", line_shape="hv",
        name=f"Pareto front ({len(front)} run{'' if len(front) == 1 else 's'})",
        meta=PARETO_META,
        line={"color": "black", "width": 1.5, "dash": "dot"}, hoverinfo="skip",
    ))
    fig.add_trace(go.Scattergl(
        x=runs[ENERGY] / 1e3, y=runs["val_acc"], mode="markers", name="full runs",
        meta="trials", hovertext=[_hover(row) for row in runs.itertuples()], hoverinfo="text",
        marker={"size": 12, "color": runs["ratio_stdp"], "colorscale": "Viridis",
                "cmin": 0, "cmax": 1, "line": {"width": 1, "color": "black"},
                "colorbar": {"title": {"text": "STDP share"}}},
    ))
    ann = runs["ann_energy_pj_per_sample"].dropna() if "ann_energy_pj_per_sample" in runs else []
    if len(ann):
        fig.add_vline(
            x=float(np.median(ann)) / 1e3, line_dash="dash", line_color="gray",
            annotation_text="same network as an ANN", annotation_position="top left",
        )
    fig.update_layout(
        title={"text": f"{title}<br><sup>full runs; energy = SOPs×E_AC + MACs×E_MAC per "
                       "validation sample; up and left is better</sup>"},
        xaxis_title="energy per sample (nJ)", yaxis_title="validation accuracy",
        height=520, width=900, hoverlabel={"align": "left"},
        # Below the axes: at the right it sat on top of the colour bar.
        legend={"orientation": "h", "x": 0, "y": -0.18},
    )
    return fig


def energy_surface_figure(
    trials: pd.DataFrame, accuracy: Surface | None, energy: EnergySurface | None, title: str,
    sampled: bool = False,
) -> go.Figure:
    """The accuracy surface (left) beside the energy surface (right), ``trials`` on both
    (``sampled``: a subset of the store's)."""
    fig = accuracy_beside(accuracy)
    if energy is not None:
        grid = energy.grid
        fig.add_trace(go.Scatterternary(
            a=grid[:, 0], b=grid[:, 1], c=grid[:, 2], mode="markers", showlegend=False,
            name="energy estimate", customdata=np.stack([energy.mean, energy.std], 1) / 1e3,
            marker={**HEAT_MARKER, "color": energy.mean / 1e3, "colorscale": "Cividis",
                    "showscale": True,
                    "colorbar": {"x": 1.0, "len": 0.75, "title": {"text": "energy<br>(nJ)"}}},
            hovertemplate=("STDP %{a:.3f}, STBP %{b:.3f}, STDP-STBP %{c:.3f}<br>energy "
                           "%{customdata[0]:.1f} ± %{customdata[1]:.1f} nJ<extra></extra>"),
        ), 1, 2)
    return finish_beside(
        fig, trials, sampled, title, "energy per validation sample (log scale fit)"
    )


def energy_surface_or_note(
    trials: pd.DataFrame, tiers: np.ndarray
) -> tuple[EnergySurface | None, str]:
    """The energy surface of the completed trials with energy, fitted like the accuracy
    surface on per-ratio means (``analysis.subset.fit_points``, ``tiers`` per trial), and
    the note that says on what — or why there is none."""
    done = (trials["state"] == "COMPLETE").to_numpy() & trials[ENERGY].notna().to_numpy()
    runs = trials[done]
    points = fit_points(runs[FRACTION_COLUMNS].to_numpy(), runs[ENERGY].to_numpy(), tiers[done])
    try:
        surface = fit_energy_surface(points.fracs, points.values)
    except ValueError as err:
        return None, f"No energy surface yet: {err}."
    return surface, f"Energy surface fitted on {points.method}."


def _hover(row) -> str:
    ann = getattr(row, "ann_energy_pj_per_sample", float("nan"))
    return (
        f"<b>{row.ratio_int}</b> ({row.ratio_stdp:.3f}, {row.ratio_stbp:.3f}, "
        f"{row.ratio_stdp_stbp:.3f})<br>val acc {row.val_acc:.4f}<br>"
        f"energy {getattr(row, ENERGY) / 1e3:.1f} nJ (ANN {ann / 1e3:.1f} nJ)<br>"
        f"SOPs {row.sops_per_sample:.4g}, MACs {row.macs_per_sample:.4g}<br>"
        f"seed {row.seed}, {row.study} #{row.trial_number}"
    )
