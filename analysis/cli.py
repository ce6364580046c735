"""``biril report`` and ``biril best``: the analysis package's command-line face.

Only click and the standard library are imported here; pandas, Optuna, Plotly and
scikit-learn load inside the commands, so registering them costs other commands nothing.
Store problems end as one ``error: ...`` line on stderr with exit status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

EXIT_USAGE = 2
STORAGE_HELP = (
    "Results folder (its biril.db) or database URL, e.g. postgresql+psycopg2://... "
    "[default: $BIRIL_RESULTS, else ./biril-results]"
)


@click.command("report")
@click.option("--storage", help=STORAGE_HELP)
@click.option("--dataset", help="Only this dataset [default: every dataset in the store].")
@click.option("-o", "--output", default="report.html", show_default=True,
              help="HTML file to write.")
def report_command(storage: str | None, dataset: str | None, output: str) -> None:
    """Write one self-contained HTML report of the sweeps in the results store."""
    from analysis.report import write_report

    path = _or_exit(lambda: write_report(storage, dataset=dataset, output=output))
    click.echo(f"report: {path}")


@click.command("best")
@click.option("--dataset", required=True, help="Dataset whose best ratio to look up.")
@click.option("--storage", help=STORAGE_HELP)
@click.option("--max-energy", type=click.FloatRange(min=0, min_open=True), metavar="PJ",
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

    best = _or_exit(lambda: best_ratio(dataset, storage=storage, max_energy=max_energy))
    if as_json:
        click.echo(json.dumps(best.model_dump(mode="json")))
        return
    click.echo("\n".join(best.describe()))
    if best.energy_pj_per_sample is not None:
        budget = "" if max_energy is None else f" (budget {max_energy:g} pJ)"
        click.echo(f"energy       {best.energy_pj_per_sample:.4g} pJ per sample{budget}")
    click.echo(f"best run     trial {best.trial_id} (#{best.trial_number}) of {best.study}, "
               f"checkpoint {best.checkpoint}")


def _or_exit(action: Callable[[], Any]) -> Any:
    """Run ``action``; a store or input problem becomes ``error: ...`` and exit status 2."""
    from results.errors import StoreError

    try:
        return action()
    except (StoreError, OSError) as err:
        click.echo(f"error: {' '.join(str(err).split())}", err=True)
        sys.exit(EXIT_USAGE)
