"""The report's STDP part: what STDP adds against its frozen control, and what it does.

Two questions a ratio's accuracy cannot answer alone. Does STDP add anything at this ratio,
or would the same schedule with the conv weights frozen in STDP iterations do as well? That
is ``results.effect``, paired by seed, for every config whose frozen controls ran. And
does STDP move the weights at all? The per-epoch diagnostics of the best ratio's best run
(``results.schema.STDP_KEYS``, per STDP-updated layer) show its step against the gradient's
and whether a layer's filters stay diverse.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analysis.stats import runs_of
from results.effect import stdp_effects
from results.ranking import Best, label
from results.schema import CURVE_STDP, STDP_KEYS

# (left panel: step sizes, right panel: cosines); solid, then dotted.
PANELS = (("stdp_step", "grad_step"), ("filter_cos", "init_cos"))
EFFECT_HEADER = [
    "config", "sweep", "seeds paired", "STDP − control (points)", "95% CI",
    "linear probe: STDP − control (points, 95% CI)",
]
EFFECT_NOTE = (
    "The control is the same config, seeds and schedule with stdp_lr 0: its conv weights are "
    "untouched in STDP iterations. Differences are paired by seed (same initial weights, same "
    "batches), with the paired t interval. The linear probe's, where both sides fitted one, "
    "is paired on the seeds whose runs both did (n), — where none did."
)
NO_CONTROL_NOTE = (
    "No frozen control ran (a spec's search.confirm.controls: true runs one beside each "
    "confirmed ratio)."
)
DIAGNOSTICS_HEADER = [
    "layer", "stdp_step (mean of epochs)", "grad_step (mean of epochs)", "stdp / grad",
    "filter_cos (last epoch)", "init_cos (last epoch)",
]
DIAGNOSTICS_NOTE = (
    "stdp_step and grad_step: mean ‖ΔW‖/‖W‖ of an epoch's STDP and gradient steps (both "
    "shrink with the learning-rate schedule, so the table averages the epochs); filter_cos: "
    "mean |cosine| between the layer's filters (1: all alike); init_cos: cosine of the "
    "weights with their initial values."
)


def effect_line(best: Best) -> str:
    """One line under the headline: STDP minus its frozen control at the best ratio."""
    where = label(best.ratio_int, best.params)
    return (
        f"<p>STDP against its frozen control at {html.escape(where)}: "
        f"{html.escape(best.effect_text())}.</p>"
    )


def effect_rows(trials: pd.DataFrame, controls: pd.DataFrame) -> list[list[str]]:
    """One row per config whose frozen controls ran: STDP minus control, 95% CI."""
    return [
        [label(c.ratio_int, c.params), c.sweep, str(c.effect.n), f"{100 * c.effect.diff:+.2f}",
         c.effect.ci_text(),
         ", ".join(f"{pool} {100 * p.diff:+.2f} {p.ci_text()} (n {p.n})"
                   for pool, p in c.effect.probe.items()) or "—"]
        for c in stdp_effects(runs_of(pd.concat([trials, controls])))
    ]


def diagnostics(curves: pd.DataFrame, best: Best) -> pd.DataFrame:
    """One row per (epoch, layer) of the best run: ``epoch``, ``layer`` and ``STDP_KEYS``."""
    run = curves[(curves["study"] == best.study) & (curves["trial_number"] == best.trial_number)]
    rows = [
        {"epoch": epoch, "layer": layer, **values}
        for epoch, layers in zip(run["epoch"], run[CURVE_STDP], strict=True)
        if isinstance(layers, dict)
        for layer, values in layers.items()
    ]
    return pd.DataFrame(rows, columns=["epoch", "layer", *STDP_KEYS])


def layer_rows(rows: pd.DataFrame) -> list[list[str]]:
    """One row per layer: step sizes averaged over the epochs, cosines at the last epoch."""
    steps = rows.groupby("layer", sort=False)[["stdp_step", "grad_step"]].mean()
    last = rows[rows["epoch"] == rows["epoch"].max()].set_index("layer")
    return [
        [layer, f"{s.stdp_step:.3g}", f"{s.grad_step:.3g}",
         f"{s.stdp_step / s.grad_step:.3g}" if s.grad_step else "—",
         f"{last.at[layer, 'filter_cos']:.3g}", f"{last.at[layer, 'init_cos']:.3g}"]
        for layer, s in steps.iterrows()
    ]


def diagnostics_figure(rows: pd.DataFrame, title: str) -> go.Figure:
    """Per layer: STDP step (solid) against gradient step (dotted), log scale; filter
    diversity (solid) and drift from initialization (dotted)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[
        "step size ‖ΔW‖/‖W‖: STDP (solid), gradient (dotted)",
        "filter |cos| (solid), cos with init (dotted)",
    ])
    colors = qualitative.Plotly
    for i, (layer, layer_rows) in enumerate(rows.groupby("layer", sort=False)):
        color = colors[i % len(colors)]
        for col, keys in enumerate(PANELS, start=1):
            for key, dash in zip(keys, ("solid", "dot"), strict=True):
                fig.add_trace(go.Scatter(
                    x=layer_rows["epoch"], y=layer_rows[key], mode="lines",
                    name=layer, legendgroup=layer, showlegend=col == 1 and dash == "solid",
                    line={"color": color, "dash": dash}, hovertext=f"{layer} {key}",
                ), 1, col)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=420, width=1150)
    return fig
