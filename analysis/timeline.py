"""The timeline of a sweep: each trial a bar from its start to its end, per node and GPU.

Anchored on ``optuna.visualization.plot_timeline`` (horizontal bars from Optuna's
``datetime_start`` to ``datetime_complete``, ``base`` at the start on a date axis), with two
changes for a cluster: a row per machine and GPU, where the trials that ran there at the same
time (CPU trials, or trials packed on one GPU) get sub-rows (``lanes``), and bars coloured
*and* hatched by stage (search, confirmation, STBP baseline, frozen controls), so the stages
can be told apart in greyscale print.

Example::

    fig = timeline_figure(trials, "digits/sweep: trials over time")   # StoredTrial list
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from results.compute import STAGES, stage_of

# Stage -> (colour, hatch, label colour): dark to light and a distinct pattern, for
# greyscale readers; trial numbers in white on the dark bars, black on the light ones.
STYLE = {
    "search": ("#1b3a6b", "", "white"),
    "confirmation": ("#4f8bd6", "/", "black"),
    "stbp_baseline": ("#b0b0b0", "x", "black"),
    "frozen_controls": ("#e0b04f", ".", "black"),
}
LABELS = {
    "search": "search", "confirmation": "confirmation", "stbp_baseline": "pure STBP baseline",
    "frozen_controls": "frozen controls",
}


def place(trial: Any) -> str:
    """Where a trial ran: its machine (else Ray node) and GPU ids, or ``CPU``."""
    attrs = trial.user_attrs
    where = attrs.get("hostname") or (attrs.get("node_id") or "?")[:8]
    gpus = attrs.get("gpu_ids") or []
    return f"{where} GPU {','.join(map(str, gpus))}" if gpus else f"{where} CPU"


def lanes(trials: Sequence[Any]) -> dict[int, str]:
    """A row label per trial (by ``number``): its place, with a sub-row ``#k`` where trials
    overlapped there (the first free one, in start order)."""
    ends: dict[str, list] = defaultdict(list)
    rows: dict[int, str] = {}
    for t in sorted(trials, key=lambda t: t.datetime_start):
        where = place(t)
        free = [i for i, end in enumerate(ends[where]) if end <= t.datetime_start]
        k = free[0] if free else len(ends[where])
        if k == len(ends[where]):
            ends[where].append(t.datetime_complete)
        else:
            ends[where][k] = t.datetime_complete
        rows[t.number] = f"{where} #{k + 1}"
    return rows


def timeline_figure(trials: Sequence[Any], title: str) -> go.Figure:
    """Finished trials as bars over time, a row per place and lane, coloured by stage."""
    done = [t for t in trials if t.datetime_start is not None and t.datetime_complete is not None]
    rows = lanes(done)
    fig = go.Figure()
    for stage in STAGES.values():
        ours = [t for t in done if stage_of(t.user_attrs) == stage]
        if not ours:
            continue
        colour, hatch, ink = STYLE[stage]
        fig.add_trace(go.Bar(
            name=LABELS[stage], orientation="h",
            base=[t.datetime_start.isoformat() for t in ours],
            x=[(t.datetime_complete - t.datetime_start).total_seconds() * 1000 for t in ours],
            y=[rows[t.number] for t in ours],
            marker={"color": colour, "pattern": {"shape": hatch, "fgcolor": "#000000"},
                    "line": {"color": "#000000", "width": 0.5}},
            text=[f"#{t.number}" for t in ours], textposition="inside",
            insidetextanchor="start", textfont={"color": ink},
            hovertemplate="trial %{text}<br>%{base} + %{x:.0f} ms<extra>" + LABELS[stage]
            + "</extra>",
        ))
    fig.update_layout(
        title=title, barmode="overlay", template="simple_white",
        xaxis={"type": "date"}, yaxis={"title": "machine, GPU, lane",
                                        "categoryorder": "category descending"},
        legend={"orientation": "h", "y": -0.22}, showlegend=True,
        height=max(280, 40 + 26 * len(set(rows.values()))),
    )
    return fig
