"""Plotly figures of a sweep: ratio surfaces on the simplex, history, curves, importances.

Ternary axes: a = STDP, b = STBP, c = STDP-STBP (fractions). Every trace that shows trials
carries ``meta="trials"`` so tests and scripts can find them in the rendered page. Plots of
many points draw through WebGL (``Scattergl``: history, curves); ternary axes have no WebGL
variant, so the report hands them a capped subset of the trials (``analysis.subset``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analysis.ratios import fractions
from analysis.surface import Surface
from results.ratios import BASELINES, PAPER_RATIOS
from results.ratios import SHARE_LABELS as LABELS

TRIALS_META = "trials"
FRACTION_COLUMNS = ["ratio_stdp", "ratio_stbp", "ratio_stdp_stbp"]
# Heat markers: one per grid point, sized to overlap at the figure sizes below.
HEAT_MARKER = {"symbol": "hexagon", "size": 14, "line": {"width": 0}}
# The paper's E/I sweet spot (STDP + STDP-STBP) : STBP = 1 : 2 is the line STBP = 2/3.
EI_LINE = np.array([[1 / 3, 2 / 3, 0.0], [0.0, 2 / 3, 1 / 3]])
# The estimate's colour scale covers the best 10 points of accuracy: the ratios worth
# choosing between; anything worse (pure STDP can sit at chance) shares the darkest colour.
COLOR_SPAN = 0.10
# Learning-curve panels: (curve column, panel title, divisor to the shown unit, hover format).
CURVE_PANELS = [
    ("val_acc", "validation accuracy", 1.0, "{:.4f}"),
    ("train_loss", "training loss", 1.0, "{:.4f}"),
]
# Colours of sweeps (history) and of ratios (curves), cycling; for sweeps also as a
# stepwise colour scale over their indices.
PALETTE = qualitative.Dark24
SWEEP_SCALE = [
    [edge / len(PALETTE), color] for i, color in enumerate(PALETTE) for edge in (i, i + 1)
]
ENERGY_PANEL = ("energy_pj_per_sample", "energy per validation sample (nJ)", 1e3, "{:.1f}")


def surface_figure(
    trials: pd.DataFrame, surface: Surface | None, best: pd.Series | None, title: str,
    sampled: bool = False,
) -> go.Figure:
    """Estimated accuracy (left) and its uncertainty (right) over the simplex, with marks.

    ``trials`` are the trials to draw; ``sampled``: they are a subset of the store's.
    """
    fig = make_subplots(
        rows=1, cols=2, specs=[[{"type": "ternary"}, {"type": "ternary"}]],
        horizontal_spacing=0.16,
    )
    if surface is not None:
        mean_label, std_label = "estimated<br>val acc", "uncertainty<br>(GP std)"
        low = max(float(surface.mean.min()), surface.max_mean - COLOR_SPAN)
        heat = _heat(surface, surface.mean, "Viridis", mean_label, 0.41)
        heat.marker.update(cmin=low, cmax=surface.max_mean)
        fig.add_trace(heat, 1, 1)
        fig.add_trace(_heat(surface, surface.std, "Magma", std_label, 1.0), 1, 2)
    for trace in _reference_traces():
        fig.add_trace(trace, 1, 1)
    for trace in trial_traces(trials, sampled=sampled):
        fig.add_trace(trace, 1, 1)
    if surface is not None:
        fig.add_trace(_point(surface.argmax, "surface max", "x", "white", 13), 1, 1)
        fig.add_trace(_point(surface.argmax, "surface max", "x", "white", 13, False), 1, 2)
    if best is not None:
        star = best[FRACTION_COLUMNS].to_numpy(dtype=float)
        fig.add_trace(_point(star, f"best measured {best['ratio_int']}", "star", "gold", 20), 1, 1)
    for name in ("ternary", "ternary2"):
        fig.update_layout({name: _ternary_axes()})
    fig.update_layout(
        title={"text": f"{title}<br><sup>left: GP estimate from the completed trials' "
                       "per-ratio means (early-stopped ones at their last epoch; colours span "
                       f"the best {COLOR_SPAN * 100:.0f} accuracy points), trials as points; "
                       "right: the estimate's standard deviation</sup>"},
        height=600, width=1150, margin={"t": 110, "b": 110, "l": 50, "r": 40},
        legend={"orientation": "h", "y": -0.12}, hoverlabel={"align": "left"},
    )
    return fig


def trial_traces(
    trials: pd.DataFrame, showlegend: bool = True, sampled: bool = False
) -> list[go.Scatterternary]:
    """Each trial as a point: full runs filled, early-stopped open, failed crossed.

    ``sampled``: the trials are a subset of the store's, and the legend says "drawn".
    """
    kinds = [
        ("full runs", (trials["state"] == "COMPLETE") & trials["full_run"], "circle", "white"),
        ("stopped early", (trials["state"] == "COMPLETE") & ~trials["full_run"],
         "circle-open", "hotpink"),
        ("failed / unfinished", trials["state"] != "COMPLETE", "x", "red"),
    ]
    traces = []
    for name, mask, symbol, color in kinds:
        rows = trials[mask.astype(bool)]
        if rows.empty:
            continue
        traces.append(go.Scatterternary(
            a=rows["ratio_stdp"], b=rows["ratio_stbp"], c=rows["ratio_stdp_stbp"],
            mode="markers", name=f"{name} ({len(rows):,}{' drawn' if sampled else ''})",
            meta=TRIALS_META,
            showlegend=showlegend, legendgroup=name,
            marker={"symbol": symbol, "size": 8, "color": color,
                    "line": {"width": 1.2, "color": "black"}},
            hovertext=[_trial_hover(row) for row in rows.itertuples()], hoverinfo="text",
        ))
    return traces


def history_figure(trials: pd.DataFrame, title: str) -> go.Figure:
    """Validation accuracy per trial in trial order, and each sweep's best full run so far.

    Every completed trial is drawn, through WebGL and in three traces however many sweeps
    the store holds: full runs and early-stopped ones (coloured by sweep, which the hover
    names), and every sweep's best-so-far line (one trace, broken between sweeps).
    """
    done = trials[trials["state"] == "COMPLETE"].sort_values(["study", "trial_number"])
    # Sweeps as colour indices into a qualitative scale (plotly checks numbers far faster
    # than colour names).
    sweep = pd.factorize(done["study"])[0] % len(PALETTE)
    full = done["full_run"].to_numpy(dtype=bool)
    fig = go.Figure()
    for label, mask, symbol in (("full runs", full, "circle"),
                                ("stopped early", ~full, "circle-open")):
        part = done[mask]
        if part.empty:
            continue
        fig.add_trace(go.Scattergl(
            x=part["trial_number"], y=part["val_acc"], mode="markers",
            name=f"{label} ({len(part):,})",
            marker={"symbol": symbol, "size": 7, "color": sweep[mask], "cmin": 0,
                    "cmax": len(PALETTE) - 1, "colorscale": SWEEP_SCALE},
            hovertext=[_trial_hover(row) for row in part.itertuples()], hoverinfo="text",
        ))
    runs = done[full]
    if not runs.empty:
        best = runs.groupby("study", sort=False)["val_acc"].cummax().to_numpy()
        gaps = _gaps(runs["study"])
        fig.add_trace(go.Scattergl(
            x=np.insert(runs["trial_number"].to_numpy(dtype=float), gaps, np.nan),
            y=np.insert(best, gaps, np.nan), mode="lines", connectgaps=False,
            line={"shape": "hv", "color": "black", "width": 1},
            name="each sweep's best full run so far", hoverinfo="skip",
        ))
    fig.update_layout(
        title=title, xaxis_title="trial number (within its sweep)",
        yaxis_title="validation accuracy", height=420, width=1150,
    )
    return fig


def _gaps(owner: pd.Series) -> np.ndarray:
    """The positions where ``owner`` changes: a gap inserted there (NaN) breaks one trace's
    line into one line per owner, so many lines cost one trace."""
    values = owner.to_numpy()
    return np.flatnonzero(values[1:] != values[:-1]) + 1


def curves_figure(curves: pd.DataFrame, title: str, group: str = "label") -> go.Figure:
    """Validation accuracy and training loss per epoch, one colour and legend entry per
    value of the ``group`` column (the report: one per ratio it shows), in order of first
    appearance; every trial of a group is one line of that colour.

    Where the sweeps measured it, a third panel shows energy per validation sample: firing
    rates, hence energy, move while a ratio trains, so a final value alone can mislead. A
    group's trials are one WebGL trace per panel, their lines separated by gaps, so the
    figure costs a few traces however many trials it shows.
    """
    panels = list(CURVE_PANELS)
    if curves[ENERGY_PANEL[0]].notna().any():
        panels.append(ENERGY_PANEL)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[1] for p in panels])
    colors = PALETTE
    for index, (label, rows) in enumerate(curves.groupby(group, sort=False)):
        rows = rows.sort_values(["study", "trial_number", "epoch"])
        trial = rows["study"] + " #" + rows["trial_number"].astype(str)
        hover = (trial + ", seed " + rows["seed"].astype(str)).to_numpy()
        gaps = _gaps(trial)
        for col, (metric, name, unit, fmt) in enumerate(panels, start=1):
            values = (rows[metric] / unit).to_numpy(dtype=float)
            text = [f"{label}<br>{h}<br>{name}: {fmt.format(v)}"
                    for h, v in zip(hover, values, strict=True)]
            fig.add_trace(go.Scattergl(
                x=np.insert(rows["epoch"].to_numpy(dtype=float), gaps, np.nan),
                y=np.insert(values, gaps, np.nan), mode="lines", name=str(label),
                legendgroup=str(label), showlegend=col == 1, connectgaps=False,
                line={"color": colors[index % len(colors)], "width": 1.2}, opacity=0.8,
                hovertext=np.insert(np.array(text, dtype=object), gaps, "").tolist(),
                hoverinfo="text",
            ), 1, col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=440, width=1150, hoverlabel={"align": "left"})
    return fig


def importance_figure(importances: dict[str, float], title: str) -> go.Figure:
    """Optuna parameter importances as horizontal bars, most important on top."""
    names = list(importances)[::-1]
    fig = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h"))
    fig.update_layout(
        title=title, xaxis_title="importance (normalized)", yaxis={"automargin": True},
        height=180 + 40 * len(names), width=700,
    )
    return fig


def comparison_figure(
    per_dataset: list[tuple[str, pd.DataFrame, Surface | None, pd.Series | None]],
) -> go.Figure:
    """One ternary per dataset (GP estimate, trials, best star) side by side."""
    cols = min(3, len(per_dataset))
    rows = math.ceil(len(per_dataset) / cols)
    fig = make_subplots(
        rows=rows, cols=cols, specs=[[{"type": "ternary"}] * cols] * rows,
        subplot_titles=[name for name, *_ in per_dataset], horizontal_spacing=0.1,
    )
    for index, (_, trials, surface, best) in enumerate(per_dataset):
        row, col = index // cols + 1, index % cols + 1
        if surface is not None:
            heat = _heat(surface, surface.mean, "Viridis", "estimate", None)
            fig.add_trace(heat, row, col)
        for trace in trial_traces(trials, showlegend=False):
            fig.add_trace(trace, row, col)
        if best is not None:
            star = best[FRACTION_COLUMNS].to_numpy(dtype=float)
            fig.add_trace(
                _point(star, f"best {best['ratio_int']}", "star", "gold", 18, False), row, col
            )
    for index in range(len(per_dataset)):
        fig.update_layout({"ternary" if index == 0 else f"ternary{index + 1}": _ternary_axes()})
    fig.update_annotations(yshift=40, font={"size": 15})  # dataset names above the STDP label
    fig.update_layout(
        height=480 * rows + 60, width=430 * cols + 100, margin={"t": 130},
        title="GP estimate of validation accuracy, trials and best measured ratio per dataset",
    )
    return fig


def _heat(
    surface: Surface, values: np.ndarray, colorscale: str, label: str, colorbar_x: float | None
) -> go.Scatterternary:
    """The GP grid as overlapping coloured markers: a heat map on ternary axes."""
    marker = {**HEAT_MARKER, "color": values, "colorscale": colorscale,
              "showscale": colorbar_x is not None}
    if colorbar_x is not None:
        marker["colorbar"] = {"x": colorbar_x, "len": 0.75, "title": {"text": label}}
    grid = surface.grid
    return go.Scatterternary(
        a=grid[:, 0], b=grid[:, 1], c=grid[:, 2], mode="markers", name=label,
        showlegend=False, marker=marker, customdata=np.stack([surface.mean, surface.std], 1),
        hovertemplate=(
            "STDP %{a:.3f}, STBP %{b:.3f}, STDP-STBP %{c:.3f}<br>"
            "estimate %{customdata[0]:.4f} ± %{customdata[1]:.4f}<extra></extra>"
        ),
    )


def _reference_traces() -> list[go.Scatterternary]:
    """The E/I line, the paper's five ratios and the three pure baselines."""
    paper = np.stack([fractions(r) for r in PAPER_RATIOS])
    base = np.stack([fractions(r) for r in BASELINES.values()])
    return [
        go.Scatterternary(
            a=EI_LINE[:, 0], b=EI_LINE[:, 1], c=EI_LINE[:, 2], mode="lines",
            name="E/I line (STDP+STDP-STBP):STBP = 1:2",
            line={"color": "red", "dash": "dash", "width": 2.5}, hoverinfo="name",
        ),
        go.Scatterternary(
            a=paper[:, 0], b=paper[:, 1], c=paper[:, 2], mode="markers+text",
            name="paper's ratios", text=list(PAPER_RATIOS), textposition="middle left",
            textfont={"color": "white", "size": 10},
            marker={"symbol": "diamond", "size": 10, "color": "orange",
                    "line": {"width": 1, "color": "black"}},
            hovertext=[f"paper ratio {r}" for r in PAPER_RATIOS], hoverinfo="text",
        ),
        go.Scatterternary(
            a=base[:, 0], b=base[:, 1], c=base[:, 2], mode="markers", name="pure baselines",
            cliponaxis=False, marker={"symbol": "square", "size": 11, "color": "deepskyblue",
                    "line": {"width": 1, "color": "black"}},
            hovertext=[f"{name} ({r})" for name, r in BASELINES.items()], hoverinfo="text",
        ),
    ]


def _point(
    fracs: np.ndarray, name: str, symbol: str, color: str, size: int, legend: bool = True
) -> go.Scatterternary:
    return go.Scatterternary(
        a=[fracs[0]], b=[fracs[1]], c=[fracs[2]], mode="markers", name=name,
        showlegend=legend, cliponaxis=False,
        marker={"symbol": symbol, "size": size, "color": color,
                "line": {"width": 1.5, "color": "black"}},
        hovertext=[f"{name}<br>({fracs[0]:.3f}, {fracs[1]:.3f}, {fracs[2]:.3f})"],
        hoverinfo="text",
    )


def _ternary_axes() -> dict:
    axis = {"min": 0, "linewidth": 1, "ticks": "outside", "tickformat": ".1f"}
    return {
        "sum": 1,
        "aaxis": {**axis, "title": {"text": LABELS[0]}},
        "baxis": {**axis, "title": {"text": LABELS[1]}},
        "caxis": {**axis, "title": {"text": LABELS[2]}},
        "bgcolor": "#eeeeee",
    }


def _trial_hover(row) -> str:
    """Hover text of one trial: ratio, accuracies, seed, epochs, stage."""
    test = "—" if pd.isna(row.test_acc) else f"{row.test_acc:.4f}"
    val = "—" if pd.isna(row.val_acc) else f"{row.val_acc:.4f}"
    status = "full run" if row.full_run else ("stopped early" if row.state == "COMPLETE"
                                              else row.state.lower())
    return (
        f"<b>{row.ratio_int}</b> ({row.ratio_stdp:.3f}, {row.ratio_stbp:.3f}, "
        f"{row.ratio_stdp_stbp:.3f})<br>val acc {val}, test acc {test}<br>"
        f"seed {row.seed}, epochs {row.epochs_completed}/{row.epochs_planned}<br>"
        f"{row.study} #{row.trial_number}, {row.stage}, {status}"
    )


def accuracy_beside(accuracy: Surface | None) -> go.Figure:
    """Two ternary panels with the accuracy surface's estimate on the left, for a second
    surface (energy, the linear probe) on the right; ``finish_beside`` completes it."""
    fig = make_subplots(
        rows=1, cols=2, specs=[[{"type": "ternary"}, {"type": "ternary"}]],
        horizontal_spacing=0.16,
    )
    if accuracy is not None:
        fig.add_trace(_heat(accuracy, accuracy.mean, "Viridis", "estimated<br>val acc", 0.41),
                      1, 1)
    return fig


def finish_beside(
    fig: go.Figure, trials: pd.DataFrame, sampled: bool, title: str, right: str
) -> go.Figure:
    """``trials`` on both panels (``sampled``: a subset of the store's), the axes and the
    layout the two-panel figures share; ``right`` says what the right panel estimates."""
    for col in (1, 2):
        for trace in trial_traces(trials, showlegend=col == 1, sampled=sampled):
            fig.add_trace(trace, 1, col)
    for name in ("ternary", "ternary2"):
        fig.update_layout({name: _ternary_axes()})
    fig.update_layout(
        title={"text": f"{title}<br><sup>left: GP estimate of validation accuracy; right: GP "
                       f"estimate of {right}</sup>"},
        height=600, width=1150, margin={"t": 110, "b": 110, "l": 50, "r": 40},
        legend={"orientation": "h", "y": -0.12}, hoverlabel={"align": "left"},
    )
    return fig
