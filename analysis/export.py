"""``biril report --figures DIR``: the report's figures and top-ratio table, for a paper.

Per dataset: the accuracy surface over the simplex, the accuracy-versus-energy front (sweeps
that measured energy), and the timeline of the best ratio's sweep, each as SVG and PDF;
and the top ratios in the ranking's order as CSV and LaTeX — ratio, shares, mean validation
accuracy with its 95% interval, seeds, p against the best, and what STDP adds against its
frozen control where the controls ran.

Static images go through Plotly's ``kaleido``, which drives a Chrome or Chromium; both are
checked before anything is drawn, and so is every file to be written: an existing one is
replaced only with ``overwrite``. Made for print: the colour scales run dark to light
(Viridis, Magma: readable in greyscale), marks differ in shape and not only colour, the
paper's ratios are labelled in black, and legends sit below the axes, clear of colour bars.

Example::

    from analysis.export import export_figures
    paths = export_figures("biril-results", "paper-figures", dataset="digits")
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from analysis.energy import energy_runs, pareto_figure
from analysis.lab import lab_records
from analysis.plots import COLOR_SPAN, surface_figure
from analysis.report import dataset_views
from analysis.stats import runs_of
from analysis.store import load_frames
from analysis.timeline import timeline_figure
from results.effect import stdp_effects
from results.errors import StoreError
from results.ranking import label
from results.runs import config_of

FORMATS = ("svg", "pdf")
# Print sizes in CSS pixels (kaleido's unit): a two-column figure and a single column.
WIDE, NARROW = (1150, 560), (760, 500)
TABLE_HEADER = ["rank", "ratio", "STDP", "STBP", "STDP-STBP", "val acc", "CI low", "CI high",
                "seeds", "p vs best", "STDP effect (points)", "effect CI low", "effect CI high"]
TOP = 10
# Shares and accuracies to 4 decimals (a hundredth of a point), p to 3, effects (points) to 2.
CSV_DECIMALS = {"STDP": 4, "STBP": 4, "STDP-STBP": 4, "val acc": 4, "CI low": 4, "CI high": 4,
                "p vs best": 3, "STDP effect (points)": 2, "effect CI low": 2,
                "effect CI high": 2}


def check_static_export() -> None:
    """Fail before any work when Plotly cannot write SVG/PDF here (no kaleido, no browser)."""
    if importlib.util.find_spec("kaleido") is None:
        raise StoreError(
            "--figures: static export needs the kaleido package: "
            "pip install 'biril-sweeps[paper]' (or pip install kaleido)"
        )
    from choreographer.browsers.chromium import Chromium

    try:
        path = Chromium.find_browser(skip_local=False)
    except (RuntimeError, OSError):
        path = None
    if path is None and not os.environ.get("BROWSER_PATH"):
        raise StoreError(
            "--figures: kaleido found no Chrome or Chromium to draw with: install one "
            "(`bash .ci/setup-browser.sh` installs Debian's chromium; or "
            "`plotly_get_chrome`), or point BROWSER_PATH at its binary"
        )


def planned(folder: Path, datasets: list[str], energy: set[str]) -> dict[str, list[Path]]:
    """Every file the export writes, per dataset (the front only where energy was measured)."""
    out = {}
    for name in datasets:
        figures = ["surface", "timeline", *(["pareto"] if name in energy else [])]
        out[name] = [folder / f"{name}-{fig}.{fmt}" for fig in figures for fmt in FORMATS]
        out[name] += [folder / f"{name}-top-ratios.csv", folder / f"{name}-top-ratios.tex"]
    return out


def export_figures(
    storage: str | os.PathLike | None, folder: str | os.PathLike, dataset: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the paper figures and tables of the store's sweeps into ``folder``."""
    check_static_export()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"--figures {folder} is a file; name a folder")
    trials, curves = load_frames(storage, dataset)
    views = dataset_views(trials, curves)
    energy = {v.name for v in views if not energy_runs(v.trials).empty}
    files = planned(folder, [v.name for v in views], energy)
    existing = [p for paths in files.values() for p in paths if p.exists()]
    if existing and not overwrite:
        raise StoreError(
            f"--figures: {existing[0]} exists ({len(existing)} of the files to write do); "
            "pass --overwrite to replace them, or name another folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    records = {r.study.name: r for r in lab_records(storage, dataset)}
    written = []
    for view in views:
        for name, draw in _figures(view, records, view.name in energy).items():
            figure, size = draw()
            for fmt in FORMATS:
                path = folder / f"{view.name}-{name}.{fmt}"
                figure.write_image(path, format=fmt, width=size[0], height=size[1])
                written.append(path)
        table = top_table(view)
        csv = folder / f"{view.name}-top-ratios.csv"
        table.round(CSV_DECIMALS).to_csv(csv, index=False)
        tex = folder / f"{view.name}-top-ratios.tex"
        tex.write_text(latex(table, view.name))
        written += [csv, tex]
    return written


def _figures(view, records, energy: bool) -> dict[str, Callable]:
    """name -> a function drawing it for print: (figure, size)."""
    def surface():
        fig = surface_figure(view.drawn, view.surface, view.best,
                             f"{view.name}: validation accuracy over STDP : STBP : STDP-STBP",
                             bool(view.drawn_note))
        if view.surface is not None:
            for trace in fig.data:
                if trace.name == "paper's ratios":
                    trace.textfont.color = _label_colours(view.surface, trace)
        return _print(fig), WIDE

    def timeline():
        ours = [r for r in records.values() if r.study.dataset == view.name]
        chosen = next((r for r in ours if view.answer and r.study.name == view.answer.study),
                      max(ours, key=lambda r: len(r.trials)))
        return _print(timeline_figure(chosen.trials, f"{chosen.study.name}: trials over time")), \
            NARROW

    def pareto():
        return _print(pareto_figure(view.trials, f"{view.name}: accuracy vs energy")), NARROW

    return {"surface": surface, "timeline": timeline, **({"pareto": pareto} if energy else {})}


def _label_colours(surface, trace) -> list[str]:
    """Black labels where the heat map under them is light, white where it is dark (the
    colour scale's lower half), so each reads in print, greyscale included."""
    low = max(float(surface.mean.min()), surface.max_mean - COLOR_SPAN)
    points = list(zip(trace.a, trace.b, trace.c, strict=True))
    estimate = surface.estimate(points)[0]
    middle = (low + surface.max_mean) / 2
    return ["black" if value > middle else "white" for value in estimate]


def _print(fig):
    """White background, serif type, the legend under the axes (each figure sets how far)."""
    fig.update_layout(template="simple_white", font={"family": "serif", "size": 13},
                      legend={"orientation": "h", "x": 0})
    return fig


def top_table(view) -> pd.DataFrame:
    """The top ratios in the ranking's order, with STDP's effect where the controls ran."""
    effects = {e.config: e.effect for e in stdp_effects(runs_of(pd.concat([view.trials,
                                                                            view.controls])))}
    rows = []
    for rank, row in enumerate(view.summary.head(TOP).itertuples(), start=1):
        ratio = (row.ratio_stdp, row.ratio_stbp, row.ratio_stdp_stbp)
        effect = effects.get(config_of(row.study, ratio, row.params or {}))
        ci = effect.ci if effect is not None and effect.ci else (math.nan, math.nan)
        rows.append([
            rank, label(row.ratio_int, row.params), *ratio, row.val_acc, row.val_ci_low,
            row.val_ci_high, row.n_seeds, row.p_vs_best,
            math.nan if effect is None else 100 * effect.diff, 100 * ci[0], 100 * ci[1],
        ])
    return pd.DataFrame(rows, columns=TABLE_HEADER)


def latex(table: pd.DataFrame, dataset: str) -> str:
    """A booktabs table: ratio, mean ± half-width of the 95% CI, seeds, p, STDP effect."""
    lines = [
        r"\begin{tabular}{rlrrrr}", r"\toprule",
        r"rank & ratio & val.\ acc.\ (95\% CI) & seeds & $p$ vs best & STDP effect (pts) \\",
        r"\midrule",
    ]
    for row in table.itertuples(index=False):
        acc = f"{100 * row[5]:.2f}"
        if not math.isnan(row[6]):
            acc += rf" $\pm$ {100 * (row[7] - row[6]) / 2:.2f}"
        p = "---" if pd.isna(row[9]) else f"{row[9]:.2f}"
        effect = "---" if math.isnan(row[10]) else f"{row[10]:+.2f}"
        if not math.isnan(row[11]):
            effect += f" [{row[11]:+.2f}, {row[12]:+.2f}]"
        lines.append(f"{row[0]} & {_tex(row[1])} & {acc} & {row[8]} & {p} & {effect} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = (f"% {dataset}: top ratios (STDP : STBP : STDP-STBP) by the lower end of the "
               "95% interval of the mean validation accuracy; written by biril report --figures")
    return "\n".join([caption, *lines]) + "\n"


def _tex(text: str) -> str:
    return text.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
