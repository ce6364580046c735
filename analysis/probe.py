"""The linear probe over the simplex: what the convs learned at each ratio, beside accuracy.

A run's validation accuracy mixes its features with how fast its head learned on them; a
spec with ``train.probe: true`` also records a logistic regression's accuracy on the last
block's spike rates (``results.schema.PROBE_KEYS``: pooled globally, ``gap``, and 4×4,
``pool4``). Where the two surfaces disagree — a ratio whose probe is high but whose head
is not — the features are there and the readout is what holds the ratio back.

The probe surface is fitted like the accuracy surface (``analysis.surface``, a GP on
log-odds over per-ratio means, ``analysis.subset.fit_points``), on the full runs that
fitted a probe: early-stopped trials never reach the probe.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.plots import FRACTION_COLUMNS, _heat, accuracy_beside, finish_beside
from analysis.stats import full_runs
from analysis.subset import fit_points
from analysis.surface import Surface, fit_surface
from results.schema import PROBE_KEYS

# The pooling the figure shows first: the one that keeps where features are, which a
# random network already reads well, so a gain there is what a learned feature adds.
SHOWN_FIRST = "pool4"


def probe_pools(trials: pd.DataFrame) -> list[str]:
    """The poolings some full run of ``trials`` measured (``[]``: no probe was fitted)."""
    runs = full_runs(trials)
    return [pool for pool, key in PROBE_KEYS.items() if key in runs and runs[key].notna().any()]


def probe_surfaces(
    trials: pd.DataFrame, tiers: np.ndarray
) -> tuple[dict[str, Surface], str]:
    """A surface per pooling of the probe over the full runs that fitted one (``tiers`` per
    trial, as for the accuracy surface), and the note that says on what — or why none."""
    full = trials["full_run"].to_numpy(dtype=bool)
    runs = trials[full]
    surfaces, notes = {}, []
    for pool in probe_pools(trials):
        points = fit_points(
            runs[FRACTION_COLUMNS].to_numpy(), runs[PROBE_KEYS[pool]].to_numpy(), tiers[full]
        )
        try:
            surfaces[pool] = fit_surface(points.fracs, points.values)
            notes.append(f"Probe surface ({pool}) fitted on {points.method}.")
        except ValueError as err:
            notes.append(f"No probe surface ({pool}) yet: {err}.")
    return surfaces, " ".join(notes)


def probe_surface_figure(
    trials: pd.DataFrame, accuracy: Surface | None, probes: dict[str, Surface], title: str,
    sampled: bool = False,
) -> go.Figure:
    """The accuracy surface (left) beside the probe's (right; a menu picks the pooling when
    there are several), ``trials`` on both (``sampled``: a subset of the store's)."""
    fig = accuracy_beside(accuracy)
    pools = sorted(probes, key=lambda pool: pool != SHOWN_FIRST)
    heats = []
    for pool in pools:
        heat = _heat(probes[pool], probes[pool].mean, "Viridis", f"probe<br>{pool}", 1.0)
        heat.update(name=f"probe {pool}", visible=pool == pools[0])
        fig.add_trace(heat, 1, 2)
        heats.append(len(fig.data) - 1)
    finish_beside(
        fig, trials, sampled, title, "a linear probe's validation accuracy on the last "
        "block's spike rates (the features, apart from the head)",
    )
    if len(pools) > 1:
        buttons = [
            {"label": f"probe {pool}", "method": "restyle",
             "args": [{"visible": [i not in heats or i == heats[k]
                                   for i in range(len(fig.data))]}]}
            for k, pool in enumerate(pools)
        ]
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "y": 1.08}])
    return fig
