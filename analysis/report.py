"""``biril report``: one self-contained HTML page summarizing every sweep in the store.

plotly.js is embedded once in the page head, so the file opens offline and can be mailed.
Per dataset: the best ratio by the one rule (``results.ranking``) with how sure that is,
the accuracy surface and its uncertainty (beside it the linear probe's surface, where the
sweeps fitted one: ``analysis.probe``), the top ratios in the rule's order with 95% CIs
over seeds and their gap to the best, baselines and the paper's ratios against the best,
the optimization history, learning curves (energy per epoch too, where measured) and
Optuna's parameter importances; what STDP adds against its frozen control and the best
run's per-layer STDP diagnostics (``analysis.stdp``); with several datasets, a comparison
first. The frozen controls are another config at their ratio: they appear only in the STDP
part, never on the surface, in the tables of ratios or on the Pareto front.

**At any size.** The page stays readable and its cost stays linear in trials: surfaces are
fitted on per-ratio means, capped by a stratified subset (``analysis.subset``); ternary
plots draw a capped subset of the trials; learning curves are drawn for the top ratios and
the pure baselines only; importances for a few sweeps. Every trial is still in the history
plot (WebGL), every trial's curve in a CSV file written beside the page (``*-curves.csv``:
16 MB at 10,000 trials, more than the rest of the page, and the one part that grows without
bound, so it is linked, not embedded), and each dataset's section says what it left out.

Example::

    import analysis
    path = analysis.write_report("biril-results", output="report.html")
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import subset
from analysis.lab import HEADER as LAB_HEADER
from analysis.lab import LabRecord, header_rows, lab_records
from analysis.ratios import PAPER_BEST, fractions
from analysis.stats import full_runs, rank_trials, standings_frame
from analysis.store import load_frames
from analysis.subset import SEED, capped, fit_points
from analysis.surface import Surface, fit_surface
from results.errors import StoreError
from results.ranking import Best, label
from results.ratios import BASELINES, KEY_DECIMALS, PAPER_RATIOS, closest_int_ratio, ratio_key
from results.ratios import SHARE_LABELS as LABELS
from results.schema import PROBE_KEYS
from results.store import locate

TOP_RATIOS = 10
# The headline names at most this many of the ratios tied with the best (a large store can
# hold hundreds), and says how many more.
HEADLINE_PEERS = 12
FRACTION_COLUMNS = ["ratio_stdp", "ratio_stbp", "ratio_stdp_stbp"]
# Importances (a random forest per sweep) for at most this many sweeps per dataset: the
# best ratio's sweep first, then those with the most full runs; each on at most
# ``IMPORTANCE_RUNS`` full runs, a stratified subset beyond that.
IMPORTANCE_SWEEPS = 4
IMPORTANCE_RUNS = 1000
# Which trials a ternary plot draws first (``analysis.subset.capped``).
DRAWN_TIERS = (
    "trials of the reported ratios", "other full runs", "trials stopped early",
    "failed or unfinished trials",
)
CURVES_SUFFIX = "-curves.csv"
CURVES_PER_RATIO = 20

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ccc; padding-top: 1em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
tr.best td { background: #fff6cc; font-weight: 600; }
.note { color: #666; font-size: 0.92em; }
"""


@dataclass
class DatasetView:
    """Everything the report shows about one dataset."""

    name: str
    trials: pd.DataFrame
    curves: pd.DataFrame
    # The variant runs (frozen controls), kept out of ``trials`` and ``curves``.
    controls: pd.DataFrame
    answer: Best | None
    summary: pd.DataFrame
    surface: Surface | None
    surface_note: str
    # Per trial: the ratio's identity (``ratio_key`` as an array row) and whether it is
    # one the page reports on (the top ratios, the pure baselines, the paper's ratios).
    keys: np.ndarray
    reported: np.ndarray
    # The trials the ternary plots draw, and in words what they leave out ("" if nothing).
    drawn: pd.DataFrame
    drawn_note: str

    @property
    def best(self) -> pd.Series | None:
        """The best ratio's row of ``summary`` (the rule's order puts it first)."""
        return None if self.summary.empty else self.summary.iloc[0]


def curves_path(output: str | os.PathLike) -> Path:
    """The CSV of every trial's curve written beside the report ``output``."""
    path = Path(output)
    return path.with_name(path.stem + CURVES_SUFFIX)


def write_report(
    storage: str | os.PathLike | None = None,
    dataset: str | None = None,
    output: str | os.PathLike = "report.html",
    overwrite: bool = False,
) -> Path:
    """Write the HTML report of the store's sweeps (one dataset, or all) and return its path.

    Every trial's per-epoch curve goes to ``<output stem>-curves.csv`` beside it. Either
    file already there is replaced only with ``overwrite``, else ``StoreError``.
    """
    import optuna
    import plotly.offline

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = Path(output).expanduser().absolute()
    csv = curves_path(path)
    taken = [p for p in (path, csv) if p.exists()]
    if taken and not overwrite:
        raise StoreError(f"{taken[0]} exists; pass --overwrite to replace it, or name a new file")
    trials, curves = load_frames(storage, dataset)
    records = lab_records(storage, dataset)
    views = dataset_views(trials, curves)
    body = [
        "<h1>BIRIL ratio sweeps</h1>",
        f"<p class=note>Store {html.escape(locate(storage).shown)} · "
        f"{_count(len(trials), 'trial')} in {_count(trials['study'].nunique(), 'sweep')} · "
        "generated "
        f"{dt.datetime.now().isoformat(timespec='seconds')}. Ratios are "
        "STDP : STBP : STDP-STBP; accuracies are fractions over full runs. A ratio's 95% "
        "interval is its mean over seeds ± t·s/√n, s the sweep's run-to-run SD (pooled over "
        "its multi-seed ratios, at least the validation set's binomial error), cut to [0, 1]; "
        "ratios are ranked by the interval's lower end. Gaps to the best are paired by seed "
        "where both ran the same seeds, their p Holm-adjusted over the comparisons.</p>",
        "<h3 id=provenance>Code and compute per sweep</h3>"
        + _table(LAB_HEADER, header_rows(records))
        + "<p class=note>GPU-h and CPU-h: training time × the GPUs and CPUs each trial held. "
        "Wall: first trial start to last trial end. Slots busy: trial time over slots × "
        "wall.</p>",
        _contents(views),
    ]
    if len(views) > 1:
        body.append(_comparison_section(views))
    for view in views:
        body.append(_dataset_section(view, csv.name))
        body.append(_timeline_section(view, records))
    page = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<title>BIRIL ratio sweeps report</title>"
        f"<style>{STYLE}</style>"
        f"<script type=\"text/javascript\">{plotly.offline.get_plotlyjs()}</script>"
        "</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    curves.to_csv(csv, index=False)
    path.write_text(page, encoding="utf-8")
    return path


def dataset_views(trials: pd.DataFrame, curves: pd.DataFrame) -> list[DatasetView]:
    """What the report (and the paper export, ``analysis.export``) shows, per dataset."""
    return [
        _dataset_view(name, trials[trials["dataset"] == name], curves[curves["dataset"] == name])
        for name in sorted(trials["dataset"].unique())
    ]


def _dataset_view(name: str, trials: pd.DataFrame, curves: pd.DataFrame) -> DatasetView:
    """Summaries (full runs), the fitted surface and what the plots draw, of one dataset.

    The surface also takes the early-stopped trials, at the accuracy they had when ASHA
    stopped them: they are why the scheduler stopped them (the bad regions of the simplex),
    and without them a sweep whose full runs all sit near the optimum draws a flat simplex.
    It is fitted on one point per ratio (``analysis.subset.fit_points``). The frozen controls
    (runs with ``overrides``) are another config at their ratio: the ranking sees them (it
    pairs them with their ratio's runs, and never ranks them); the rest of the page does not.
    """
    ranking = rank_trials(trials)
    variant = trials["overrides"].map(bool).to_numpy()
    controls, trials = trials[variant], trials[~variant].reset_index(drop=True)
    kept = set(zip(trials["study"], trials["trial_number"], strict=True))
    in_kept = [k in kept for k in zip(curves["study"], curves["trial_number"], strict=True)]
    curves = curves[in_kept].reset_index(drop=True)
    summary = standings_frame(ranking)
    keys = np.round(trials[FRACTION_COLUMNS].to_numpy(dtype=float), KEY_DECIMALS) + 0.0
    reported_keys = {ratio_key(r) for r in (*BASELINES.values(), *PAPER_RATIOS)}
    reported_keys |= {ratio_key(s.ratio) for s in ranking.standings[:TOP_RATIOS]}
    reported = np.array([tuple(k) in reported_keys for k in keys.tolist()], dtype=bool)
    full = trials["full_run"].to_numpy(dtype=bool)
    done = (trials["state"] == "COMPLETE").to_numpy()
    runs = done & trials["val_acc"].notna().to_numpy()
    tiers = np.where(reported, 0, np.where(full, 1, 2))
    points = fit_points(
        trials.loc[runs, FRACTION_COLUMNS].to_numpy(), trials.loc[runs, "val_acc"].to_numpy(),
        tiers[runs],
    )
    surface, note = None, f"Surface fitted on {points.method}."
    try:
        surface = fit_surface(points.fracs, points.values)
    except ValueError as err:
        note = f"No surface yet: {err}."
    drawn_tiers = np.where(reported, 0, np.where(full, 1, np.where(done, 2, 3)))
    kept = capped(trials[FRACTION_COLUMNS].to_numpy(), drawn_tiers, subset.MAX_DRAWN, DRAWN_TIERS)
    drawn = trials.iloc[np.sort(kept.index)]
    drawn_note = ""
    if kept.words:
        drawn_note = f"{len(drawn):,} of {kept.total:,} trials ({kept.words})"
    if trials["params"].map(bool).any():
        note += (
            " The surface pools every run of a ratio whatever its searched params "
            f"({', '.join(sorted(set().union(*trials['params'])))}): it is averaged over the "
            "values the search tried, not drawn at their best; the tables rank each ratio "
            "and params pair on its own."
        )
    return DatasetView(name, trials, curves, controls, ranking.best, summary, surface, note,
                       keys, reported, drawn, drawn_note)


def _contents(views: list[DatasetView]) -> str:
    items = [f"<li><a href=\"#ds-{html.escape(v.name)}\">{html.escape(v.name)}</a></li>"
             for v in views]
    if len(views) > 1:
        items.insert(0, "<li><a href=\"#comparison\">comparison across datasets</a></li>")
    return "<ul>" + "".join(items) + "</ul>"


def _comparison_section(views: list[DatasetView]) -> str:
    from analysis.plots import comparison_figure

    figure = comparison_figure([(v.name, v.drawn, v.surface, v.best) for v in views])
    header = ["dataset", "best ratio", "fractions", "val acc", "test acc", "seeds", "sweep",
              "paper's best"]
    rows = []
    for view in views:
        best = view.best
        paper = PAPER_BEST.get(view.name, "—")
        if best is None:
            rows.append([view.name, "no full run yet", "", "", "", "", "", paper])
            continue
        rows.append([
            view.name, best["ratio_int"], _fractions_text(best), _mean_ci(best),
            _number(best["test_acc"]), str(best["n_seeds"]), best["sweep"], paper,
        ])
    return (
        "<h2 id=comparison>Comparison across datasets</h2>"
        + _table(header, rows) + _figure_html(figure, "comparison")
    )


def _dataset_section(view: DatasetView, csv_name: str) -> str:
    from analysis import stdp
    from analysis.plots import curves_figure, history_figure, surface_figure

    n_full = len(full_runs(view.trials))
    parts = [
        f"<h2 id=\"ds-{html.escape(view.name)}\">{html.escape(view.name)}</h2>",
        f"<p>{_count(len(view.trials), 'trial')} ({_count(n_full, 'full run')}) in "
        f"{_count(view.trials['sweep'].nunique(), 'sweep')}: "
        f"{html.escape(_names(sorted(view.trials['sweep'].unique())))}.</p>",
    ]
    best = view.best
    if view.answer is not None:
        parts.append(_headline(view.answer))
        parts.append(stdp.effect_line(view.answer))
    shown = _curves_shown(view)
    importances, sweeps_note = _importances_html(view)
    parts.append(_left_out(view, shown, csv_name, sweeps_note))
    parts.append(f"<p class=note>{html.escape(view.surface_note)}</p>")
    title = f"{view.name}: validation accuracy over STDP : STBP : STDP-STBP"
    figure = surface_figure(view.drawn, view.surface, best, title, bool(view.drawn_note))
    parts.append(_figure_html(figure, f"surface-{view.name}"))
    parts.append(_probe_section(view))
    parts.append(_energy_section(view))
    parts.append("<h3>Top ratios</h3>" + _top_table(view.summary))
    if view.answer is not None:
        parts.append(_stdp_section(view))
    parts.append("<h3>Baselines and the paper's ratios against the best</h3>"
                 + _baseline_table(view))
    parts.append("<h3>Optimization history</h3>")
    figure = history_figure(view.trials, f"{view.name}: trials in order")
    parts.append(_figure_html(figure, f"history-{view.name}"))
    parts.append("<h3>Learning curves</h3>")
    if shown.empty:
        parts.append("<p class=note>No per-epoch curves recorded.</p>")
    else:
        figure = curves_figure(
            shown, f"{view.name}: per-epoch metrics of the top {TOP_RATIOS} ratios and the "
            "pure baselines"
        )
        parts.append(_figure_html(figure, f"curves-{view.name}"))
    parts.append(f"<p class=note>Every trial's curve: <a href=\"{html.escape(csv_name)}\" "
                 f"download>{html.escape(csv_name)}</a> (beside this page).</p>")
    parts.append("<h3>Which share matters (Optuna parameter importances, full runs)</h3>")
    parts.append(importances)
    return "\n".join(parts)


def _timeline_section(view: DatasetView, records: list[LabRecord]) -> str:
    """The best ratio's sweep (else the dataset's largest) as trials over time."""
    from analysis.timeline import timeline_figure

    ours = [r for r in records if r.study.dataset == view.name]
    chosen = next((r for r in ours if view.answer and r.study.name == view.answer.study),
                  max(ours, key=lambda r: len(r.trials)))
    figure = timeline_figure(chosen.trials, f"{chosen.study.name}: trials over time by stage")
    return (f"<h3>Timeline of {html.escape(chosen.study.name)}</h3>"
            + _figure_html(figure, f"timeline-{view.name}"))


def _stdp_section(view: DatasetView) -> str:
    """STDP against its frozen control per config, and the best run's STDP diagnostics."""
    from analysis import stdp

    effects = stdp.effect_rows(view.trials, view.controls)
    parts = [
        "<h3>STDP against its frozen control</h3>",
        _table(stdp.EFFECT_HEADER, effects) + f"<p class=note>{stdp.EFFECT_NOTE}</p>"
        if effects
        else f"<p class=note>{stdp.NO_CONTROL_NOTE}</p>",
        f"<h3>What STDP does to the weights: {html.escape(view.answer.ratio_int)}, its best "
        f"run (#{view.answer.trial_number})</h3>",
    ]
    rows = stdp.diagnostics(view.curves, view.answer)
    if rows.empty:
        parts.append("<p class=note>No STDP diagnostics recorded for this run.</p>")
        return "\n".join(parts)
    figure = stdp.diagnostics_figure(rows, f"{view.name}: STDP diagnostics per layer")
    parts.append(_figure_html(figure, f"stdp-{view.name}"))
    parts.append(_table(stdp.DIAGNOSTICS_HEADER, stdp.layer_rows(rows))
                 + f"<p class=note>{stdp.DIAGNOSTICS_NOTE}</p>")
    return "\n".join(parts)


def _curves_shown(view: DatasetView) -> pd.DataFrame:
    """The curves of the top ratios (rank order) and the pure baselines, labelled by ratio.

    A ratio's label is its rank and ``a:b:c``, or the baseline's name. At most
    ``CURVES_PER_RATIO`` trials per ratio (full runs first, then a seeded random draw): a
    baseline run in every sweep of a large store has hundreds. The rest are in the CSV.
    """
    labels: dict[tuple, str] = {}
    for rank, standing in enumerate(view.summary.head(TOP_RATIOS).itertuples(), start=1):
        key = ratio_key((standing.ratio_stdp, standing.ratio_stbp, standing.ratio_stdp_stbp))
        labels.setdefault(key, f"#{rank} {standing.ratio_int}")
    for name, ratio in BASELINES.items():
        labels.setdefault(ratio_key(ratio), f"{name} {ratio}")
    label_of = [labels.get(tuple(k)) for k in view.keys.tolist()]
    shuffle = np.random.default_rng(SEED).permutation(len(view.trials))
    trials = (
        view.trials.assign(label=label_of, stopped=~view.trials["full_run"], shuffle=shuffle)
        .dropna(subset=["label"])
        .sort_values(["stopped", "shuffle"])
        .groupby("label", sort=False)
        .head(CURVES_PER_RATIO)
    )
    order = {label: i for i, label in enumerate(labels.values())}
    shown = view.curves.merge(trials[["study", "trial_number", "label"]],
                              on=["study", "trial_number"])
    return shown.sort_values("label", key=lambda s: s.map(order), kind="stable")


def _left_out(view: DatasetView, shown: pd.DataFrame, csv_name: str, sweeps_note: str) -> str:
    """What this section does not draw of the store, in words (the store has all of it)."""
    n_curves = view.curves[["study", "trial_number"]].drop_duplicates().shape[0]
    n_shown = shown[["study", "trial_number"]].drop_duplicates().shape[0]
    items = [
        f"Simplex plots draw {html.escape(view.drawn_note)}; the optimization history "
        "draws every trial." if view.drawn_note else "",
        f"Learning curves are drawn for {n_shown:,} of the {n_curves:,} trials with a curve "
        f"(the top {TOP_RATIOS} ratios and the pure baselines, at most {CURVES_PER_RATIO} "
        "trials each, full runs first); every curve is in "
        f"<a href=\"{html.escape(csv_name)}\" download>{html.escape(csv_name)}</a>."
        if n_shown < n_curves else "",
        html.escape(sweeps_note),
    ]
    items = [item for item in items if item]
    if not items:
        return "<p class=note>Nothing left out: every trial and curve is drawn.</p>"
    return ("<div class=note><b>Left out of this page</b> (the store and the CSV have all "
            "of it):<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul></div>")


def _count(n: int, noun: str) -> str:
    """``1 sweep``, ``2 sweeps``, ``1,000 trials``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _names(names: list[str], most: int = 10) -> str:
    """``a, b, c`` or, for a long list, its first ``most`` and how many more."""
    more = len(names) - most
    return ", ".join(names[:most]) + (f" and {more:,} more" if more > 0 else "")


def _probe_section(view: DatasetView) -> str:
    """The linear probe's surface beside accuracy; empty for sweeps that fitted no probe."""
    from analysis.probe import probe_pools, probe_surface_figure, probe_surfaces

    if not probe_pools(view.trials):
        return ""
    tiers = np.where(view.reported, 0, 1)
    surfaces, note = probe_surfaces(view.trials, tiers)
    figure = probe_surface_figure(view.drawn, view.surface, surfaces,
                                  f"{view.name}: accuracy and the linear probe over the simplex",
                                  bool(view.drawn_note))
    return "\n".join([
        "<h3>What the features hold: a linear probe of the last block</h3>",
        f"<p class=note>{html.escape(note)}</p>",
        _figure_html(figure, f"probe-surface-{view.name}"),
    ])


def _energy_section(view: DatasetView) -> str:
    """Pareto front, its table and the energy surface; empty for sweeps without energy."""
    from analysis.energy import (
        ENERGY,
        energy_runs,
        energy_surface_figure,
        energy_surface_or_note,
        pareto_figure,
        pareto_front,
    )

    if energy_runs(view.trials).empty:
        return ""
    front = pareto_front(view.trials)
    parts = ["<h3>Accuracy versus energy</h3>",
             _figure_html(pareto_figure(view.trials, f"{view.name}: accuracy vs energy"),
                          f"pareto-{view.name}")]
    rows = [
        [row.ratio_int, f"{row.ratio_stdp:.3f}, {row.ratio_stbp:.3f}, {row.ratio_stdp_stbp:.3f}",
         f"{row.val_acc:.4f}", f"{getattr(row, ENERGY) / 1e3:.1f}",
         f"{row.sops_per_sample:.4g}", f"{row.macs_per_sample:.4g}",
         f"{row.ann_energy_pj_per_sample / 1e3:.1f}", f"{row.study} #{row.trial_number}"]
        for row in front.itertuples()
    ]
    header = ["ratio", "fractions", "val acc", "energy (nJ)", "SOPs", "MACs", "ANN (nJ)", "run"]
    parts.append(f"<p>Pareto front: {len(front)} of {len(energy_runs(view.trials))} full runs "
                 "(energy per validation sample).</p>" + _table(header, rows))
    tiers = np.where(view.reported, 0, np.where(view.trials["full_run"].to_numpy(bool), 1, 2))
    surface, note = energy_surface_or_note(view.trials, tiers)
    parts.append(f"<p class=note>{html.escape(note)}</p>")
    figure = energy_surface_figure(view.drawn, view.surface, surface,
                                   f"{view.name}: accuracy and energy over the simplex",
                                   bool(view.drawn_note))
    parts.append(_figure_html(figure, f"energy-surface-{view.name}"))
    return "\n".join(parts)


def _headline(best: Best) -> str:
    """The answer: the best ratio, how sure, what it cannot be told apart from, vs STBP."""
    seeds = f"{best.n_seeds} seed{'s' if best.n_seeds != 1 else ''}"
    images = f" on {best.val_size} validation images" if best.val_size else ""
    test = "—" if best.test_acc is None else f"{best.test_acc:.4f}"
    peers = ", ".join(
        f"{label(p.ratio_int, p.params)} (p {p.p:.2f})"
        for p in best.indistinguishable[:HEADLINE_PEERS]
    )
    more = len(best.indistinguishable) - HEADLINE_PEERS
    if more > 0:
        peers += f" and {more:,} more"
    shares = ", ".join(f"{x:.3f}" for x in best.ratio)
    return (
        f"<p><b>Best ratio {html.escape(label(best.ratio_int, best.params))}</b> ({shares}): "
        f"val acc {_interval(best.val_acc, best.ci)} over {seeds}{images}, test acc {test}, "
        f"sweep {html.escape(best.sweep)}.<br>"
        f"Cannot be told apart from it (95%): {html.escape(peers or 'none')}.<br>"
        f"Against pure STBP: {html.escape(best.verdict)}.</p>"
    )


def _top_table(summary: pd.DataFrame) -> str:
    """The ratios in the rule's order: the best first, then by lower 95% bound."""
    if summary.empty:
        return "<p class=note>No full runs yet.</p>"
    # The linear probe's mean accuracy per pooling, where some ratio fitted one.
    probes = {pool: key for pool, key in PROBE_KEYS.items() if summary[key].notna().any()}
    header = ["rank", "ratio", "fractions", "sweep", "seeds", "val acc (mean [95% CI])",
              "lower bound (ranks)", "vs best", "test acc (mean)",
              *(f"probe {pool} (mean)" for pool in probes), "best run"]
    rows = [
        [str(rank + 1), label(row["ratio_int"], row["params"]), _fractions_text(row), row["sweep"],
         str(row["n_seeds"]), _mean_ci(row), _number(row["score"]), _versus(row),
         _number(row["test_acc"]), *(_number(row[key]) for key in probes.values()),
         f"#{row['trial_number']} {'' if pd.isna(row['trial_id']) else row['trial_id']}"]
        for rank, (_, row) in enumerate(summary.head(TOP_RATIOS).iterrows())
    ]
    return _table(header, rows, best_row=0)


def _versus(row: pd.Series) -> str:
    """The gap to the best: "best", "tied (p …)" or "below (p …)"."""
    p = row["p_vs_best"]
    if pd.isna(p):
        return "best" if row.name == 0 else "—"
    return f"{'tied' if row['indistinguishable'] else 'below'} (p {p:.2f})"


def _baseline_table(view: DatasetView) -> str:
    """Pure baselines and the paper's ratios: measured (if run) and estimated, vs the best."""
    best = view.best
    references = list(BASELINES.items()) + [(f"paper {r}", r) for r in PAPER_RATIOS]
    header = ["ratio", "a:b:c", "measured val acc", "seeds", "GP estimate", "Δ vs best"]
    rows = []
    for name, ratio in references:
        measured = _measured(view.summary, ratio)
        rows.append([
            name, ratio,
            _unfinished(view, ratio) if measured is None else _mean_ci(measured),
            "" if measured is None else str(measured["n_seeds"]),
            _estimate(view.surface, fractions(ratio)), _delta(view, measured, ratio),
        ])
    best_row = None
    if best is not None:
        best_row = len(rows)
        rows.append([
            "best measured", best["ratio_int"], _mean_ci(best), str(best["n_seeds"]),
            _estimate(view.surface, best[FRACTION_COLUMNS].to_numpy(dtype=float)), "+0.0000",
        ])
    if view.surface is not None:
        top = view.surface.argmax
        rows.append([
            "surface max", f"≈{closest_int_ratio(top)} ({top[0]:.3f}, {top[1]:.3f}, {top[2]:.3f})",
            "", "",
            _estimate(view.surface, top), "",
        ])
    note = ("<p class=note>Δ vs best uses the measured mean where the ratio had full runs, "
            "else the GP estimate.</p>")
    return _table(header, rows, best_row=best_row) + note


def _unfinished(view: DatasetView, ratio: str) -> str:
    """What became of a ratio with no full run: stopped early (best such run), failed, not run."""
    runs = view.trials[(view.keys == np.array(ratio_key(ratio))).all(axis=1)]
    stopped = runs[runs["state"] == "COMPLETE"].dropna(subset=["val_acc"])
    if not stopped.empty:
        top = stopped.loc[stopped["val_acc"].idxmax()]
        return f"stopped early: {top['val_acc']:.4f} at epoch {top['epochs_completed']}"
    return "failed" if not runs.empty else "not run"


def _delta(view: DatasetView, measured: pd.Series | None, ratio: str) -> str:
    """Reference minus best mean validation accuracy (measured if run, else estimated)."""
    if view.best is None:
        return "—"
    if measured is not None:
        value = measured["val_acc"]
    elif view.surface is not None:
        value = float(view.surface.estimate([fractions(ratio)])[0][0])
    else:
        return "—"
    return f"{value - view.best['val_acc']:+.4f}"


def _importances_html(view: DatasetView) -> tuple[str, str]:
    """Optuna's importances per sweep over its full runs (a note where it cannot tell), and
    what was left out: sweeps beyond ``IMPORTANCE_SWEEPS``, runs beyond ``IMPORTANCE_RUNS``."""
    from analysis.plots import importance_figure

    runs = full_runs(view.trials).dropna(subset=["val_acc"])
    counts = runs["study"].value_counts()
    first = [] if view.answer is None else [view.answer.study]
    studies = list(dict.fromkeys([*first, *counts.index]))[:IMPORTANCE_SWEEPS]
    parts, capped_runs = [], []
    for name in studies:
        study_runs = runs[runs["study"] == name]
        if len(study_runs) > IMPORTANCE_RUNS:
            capped_runs.append(name)
            fracs = study_runs[FRACTION_COLUMNS].to_numpy()
            kept = capped(fracs, np.zeros(len(fracs), dtype=int), IMPORTANCE_RUNS, ("runs",))
            study_runs = study_runs.iloc[np.sort(kept.index)]
        importances, problem = _importances(_shares_study(study_runs))
        if problem:
            parts.append(f"<p class=note>{html.escape(name)}: {html.escape(problem)}</p>")
        else:
            parts.append(_figure_html(importance_figure(importances, name), f"importance-{name}"))
    if not studies:
        parts.append("<p class=note>No full runs yet: nothing to rank the shares by.</p>")
    notes = []
    if len(counts) > len(studies):
        notes.append(f"Importances are shown for {len(studies)} of the {len(counts):,} sweeps "
                     "with full runs (the best ratio's sweep, then those with the most).")
    if capped_runs:
        notes.append(f"Importances of {', '.join(capped_runs)} use {IMPORTANCE_RUNS:,} of "
                     "their full runs, spread over the simplex.")
    return "\n".join(parts), " ".join(notes)


def _shares_study(runs: pd.DataFrame):
    """A scratch in-memory study of these runs, with the ratio's three shares as parameters.

    Sweeps search through their own parametrization (three uniforms, or one lattice
    category); importances of the STDP, STBP and STDP-STBP shares are what a reader asks.
    """
    import optuna

    share = optuna.distributions.FloatDistribution(0.0, 1.0)
    names = [f"{label} share" for label in LABELS]
    study = optuna.create_study(direction="maximize")
    study.add_trials([
        optuna.trial.create_trial(
            params=dict(zip(names, map(float, fracs), strict=True)),
            distributions=dict.fromkeys(names, share),
            value=float(value),  # validation accuracy, the first objective
        )
        for *fracs, value in runs[[*FRACTION_COLUMNS, "val_acc"]].itertuples(index=False)
    ])
    return study


def _importances(study) -> tuple[dict[str, float], str]:
    """Optuna's parameter importances, or ``({}, why not)``.

    Optuna answers "all equal" with only a warning when the runs are too few to split into
    good and bad ones; equal bars would read as a finding, so that counts as "why not" too.
    """
    import optuna

    n_runs = len(study.trials)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError) as err:
            return {}, f"cannot compute importances from {n_runs} full run(s) ({err})"
    if any("will be equal" in str(w.message) for w in caught):
        return {}, f"too few full runs ({n_runs}) for Optuna to rank the parameters"
    if not importances:
        return {}, "no parameter varies across the full runs"
    return importances, ""


def _measured(summary: pd.DataFrame, ratio: str) -> pd.Series | None:
    """The first summary row of this ratio in the rule's order (its best sweep), if any."""
    keys = np.round(summary[FRACTION_COLUMNS].to_numpy(dtype=float), KEY_DECIMALS) + 0.0
    same = summary[(keys == np.array(ratio_key(ratio))).all(axis=1)]
    return None if same.empty else same.iloc[0]


def _estimate(surface: Surface | None, ratio) -> str:
    if surface is None:
        return "—"
    mean, std = surface.estimate([ratio])
    return f"{mean[0]:.4f} ± {std[0]:.4f}"


def _mean_ci(row: pd.Series) -> str:
    """A summary row's validation accuracy: ``mean [low, high]``."""
    low, high = row["val_ci_low"], row["val_ci_high"]
    return _interval(row["val_acc"], None if pd.isna(low) else (low, high))


def _interval(mean: float, ci: tuple[float, float] | None) -> str:
    if ci is None:
        return f"{mean:.4f} (spread unknown)"
    low, high = ci
    # No "± half-width": cut to [0, 1], the interval need not be symmetric.
    return f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def _number(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.4f}"


def _fractions_text(row: pd.Series) -> str:
    return ", ".join(f"{row[c]:.3f}" for c in FRACTION_COLUMNS)


def _table(header: list[str], rows: list[list[str]], best_row: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = []
    for index, row in enumerate(rows):
        cls = " class=best" if index == best_row else ""
        cells = "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
        lines.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _figure_html(figure, name: str) -> str:
    """The figure as a div (id ``name`` made HTML-safe) drawn by the page's plotly.js."""
    return figure.to_html(
        full_html=False, include_plotlyjs=False, include_mathjax=False,
        div_id=re.sub(r"[^A-Za-z0-9_-]", "-", name),
        config={"displaylogo": False, "responsive": True},
    )
