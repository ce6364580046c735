"""``biril sweep``: the command-line face of ``sweeps.run_sweep``, then the HTML report.

Only click, the standard library and a constant of the results contract are imported
here; Ray, Optuna and torch load when the command runs, so ``biril --help`` stays instant.
The report at the end is ``analysis``'s: the command line is the one place that joins the
two packages.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from results.database import DB_ENV


@click.command(
    "sweep",
    help="Run (or resume) a ratio sweep. SPEC: a YAML file or a shipped spec name "
    "(digits, mnist, fashion_mnist, cifar10, cifar100, tinyimagenet, dvs128_gesture); "
    "default digits. Running the same command again after an interruption resumes it.",
)
@click.argument("spec", required=False)
@click.option(
    "--storage",
    metavar="R",
    help="Results root, a local path or URI (default: $BIRIL_RESULTS, else ./biril-results).",
)
@click.option(
    "--db",
    metavar="URL",
    envvar=DB_ENV,
    help=f"Optuna database URL (default: ${DB_ENV}, else sqlite R/biril.db). A password in "
    f"it is never printed; ${DB_ENV} keeps it off the command line too.",
)
@click.option("--name", metavar="N", help="Sweep name (default: the spec's name).")
@click.option(
    "--address",
    metavar="A",
    help="Ray cluster address (default: $RAY_ADDRESS, else an embedded local Ray).",
)
@click.option("--fresh", is_flag=True, help="Delete this sweep's old results and start over.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--report",
    "report_file",
    default="auto",
    type=click.Choice(["auto", "none"]),
    help="Write the HTML report beside the results at the end (auto) or not (none).",
)
def sweep_command(
    spec: str | None,
    storage: str | None,
    db: str | None,
    name: str | None,
    address: str | None,
    fresh: bool,
    as_json: bool,
    report_file: str,
) -> None:
    import optuna

    from sweeps.runner import run_sweep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Ray Tune prints its own banners to stdout; stdout is for the summary alone.
    with contextlib.redirect_stdout(sys.stderr):
        summary = run_sweep(
            spec,
            storage=storage,
            db=db,
            name=name,
            address=address,
            fresh=fresh,
            progress=not as_json,
        )
    report = None
    if report_file != "none":
        report = _report(summary, db)
    if as_json:
        click.echo(json.dumps({**summary.model_dump(), "report": report}))
    else:
        click.echo(summary.render())
        if report:
            click.echo(f"report: {report}")


def _report(summary, db: str | None) -> str | None:
    """The HTML report of this sweep's dataset, beside its results when they are local.

    It reads ``db`` itself: the summary's URL has its password masked.
    """
    from analysis.report import write_report
    from results.errors import StoreError
    from results.layout import is_uri

    results = Path(summary.results_dir)
    local = not is_uri(summary.results_dir)
    output = results / "report.html" if local else Path(f"report-{summary.dataset}.html")
    try:
        return str(write_report(db or summary.storage, dataset=summary.dataset, output=output))
    except StoreError as e:  # e.g. no trial finished: the summary above says why
        click.echo(f"no report: {e}", err=True)
        return None
