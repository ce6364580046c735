"""``biril report`` and ``biril best``: the analysis package's command-line face.

Only click and the standard library are imported here; pandas, Optuna, Plotly and
scikit-learn load inside the commands, so registering them costs other commands nothing.
Store problems raise ``StoreError``, which ``biril`` reports as one line, exit status 2.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import click

from results.errors import printable

STORAGE_HELP = (
    "Results folder (its biril.db) or database URL, e.g. postgresql+psycopg2://... "
    "[default: $BIRIL_RESULTS, else ./biril-results]"
)


def _new_file(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A file path that can be written (its folders created), checked before any work."""
    path = Path(value)
    if path.is_dir():
        raise click.BadParameter(f"{value} is a folder; name the file, e.g. {path / 'report.html'}")
    ancestor = next(p for p in path.absolute().parents if p.exists())
    if not ancestor.is_dir():
        raise click.BadParameter(f"{ancestor} is a file, so {path.parent} cannot be created")
    if not os.access(ancestor, os.W_OK):
        raise click.BadParameter(f"cannot write in {ancestor}; choose another folder")
    return value


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets NaN and infinity through (no comparison with them fails)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number of pJ; pass e.g. 5000")
    return value


@click.command("report")
@click.option("--storage", help=STORAGE_HELP)
@click.option("--dataset", help="Only this dataset [default: every dataset in the store].")
@click.option("-o", "--output", default="report.html", show_default=True, callback=_new_file,
              help="HTML file to write.")
def report_command(storage: str | None, dataset: str | None, output: str) -> None:
    """Write one self-contained HTML report of the sweeps in the results store."""
    from analysis.report import write_report

    click.echo(f"report: {write_report(storage, dataset=dataset, output=output)}")


@click.command("best")
@click.option("--dataset", required=True, help="Dataset whose best ratio to look up.")
@click.option("--storage", help=STORAGE_HELP)
@click.option("--max-energy", type=click.FloatRange(min=0, min_open=True), metavar="PJ",
              callback=_finite,
              help="Energy budget: only ratios whose mean validation energy per sample (pJ) "
                   "is at most this compete.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def best_command(
    dataset: str, storage: str | None, max_energy: float | None, as_json: bool
) -> None:
    """Print the best ratio of a dataset and how sure that is.

    Ratios (full runs, pooled over seeds) are ranked by the lower end of the 95% interval of
    their mean validation accuracy; see the README's "Which ratio is best".
    """
    from analysis.best import best_ratio

    best = best_ratio(dataset, storage=storage, max_energy=max_energy)
    if as_json:
        click.echo(json.dumps(best.model_dump(mode="json")))
        return
    # Names come from the store, untrusted: control characters are shown escaped.
    click.echo("\n".join(printable(line) for line in best.describe()))
    if best.energy_pj_per_sample is not None:
        budget = "" if max_energy is None else f" (budget {max_energy:g} pJ)"
        click.echo(f"energy       {best.energy_pj_per_sample:.4g} pJ per sample{budget}")
    run = f"trial {best.trial_id} (#{best.trial_number}) of {best.study}"
    click.echo(printable(f"best run     {run}, checkpoint {best.checkpoint}"))
