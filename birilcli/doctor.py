"""``biril doctor``: this machine's (or a cluster's) checks, or the smoke cases with --smoke."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from results.errors import UserError, quote


@click.command()
@click.option(
    "--address",
    metavar="URL",
    help="Run the checks on every node of this Ray cluster (its dashboard, http://HOST:8265).",
)
@click.option(
    "--smoke", is_flag=True, help="Run the trainer for real on the device, small and fast."
)
@click.option("--device", help="--smoke: cpu | cuda | cuda:N (default: cuda if available).")
@click.option("--case", "cases", multiple=True, help="--smoke: only this case (repeatable).")
@click.option("--data-root", help="Where datasets live (else $BIRIL_DATA, ~/.cache/biril/data).")
@click.option("--dataset", help="The dataset the next sweep needs: its absence fails.")
@click.option("--storage", help="Results root, as for `biril sweep` (else $BIRIL_RESULTS).")
@click.option("--db", help="Optuna database URL, as for `biril sweep` (else SQLite in the root).")
@click.option("--out", type=click.Path(), help="Also write the JSON to this new file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def doctor(address, smoke, device, cases, dataset, out, as_json, **where) -> None:
    """Check this machine (or every node of a cluster) before a sweep.

    Exit status 1 when a check the next sweep needs fails (or, with --smoke, a case).
    """
    if smoke and address:
        raise UserError("--smoke runs here; --address checks a cluster: pass one of them")
    if (device or cases) and not smoke:
        raise UserError(f"{'--device' if device else '--case'} belongs to --smoke: add --smoke")
    if out and Path(out).exists():
        raise UserError(f"--out {quote(out)} exists; name a new file (nothing is overwritten)")
    if dataset is not None:
        from biril.datasets import REGISTRY

        if dataset not in REGISTRY:
            raise UserError(
                f"--dataset: unknown {quote(dataset)}; choose one of: {', '.join(REGISTRY)}"
            )
    if smoke:
        _smoke(device, cases, out, as_json)
        return
    if address is not None:
        _doctor_cluster(address, {**where, "dataset": dataset}, out, as_json)
        return
    from biril.doctor import failed_required, render
    from cluster.doctor import machine_checks

    checks = machine_checks(**where, dataset=dataset)
    report = {"ok": not failed_required(checks), "checks": [c.to_dict() for c in checks]}
    _emit(report, out, as_json, lambda console: console.print(render(checks, "this machine")))
    if not report["ok"]:
        sys.exit(1)


def _emit(report: dict, out: str | None, as_json: bool, show) -> None:
    """The report as JSON (stdout and/or ``--out``), or as tables through ``show``."""
    from rich.console import Console

    if out:
        Path(out).write_text(json.dumps(report, indent=2))
    if as_json:
        click.echo(json.dumps(report))
    else:
        show(Console())


def _doctor_cluster(address: str, options: dict, out: str | None, as_json: bool) -> None:
    from biril.doctor import Check, failed_required, render
    from cluster.doctor import check_cluster, summary_table

    report = check_cluster(address, options)
    failed = [n for n in report["nodes"] if "error" in n]
    failed += [n for n in report["nodes"] if failed_required([Check(**c) for c in n["checks"]])]
    report["ok"] = not failed

    def show(console) -> None:
        for n in report["nodes"]:
            title = f"node {n['label'] or n['node_id'][:12]}  {n['ip']}  {n['node_id'][:12]}"
            if "error" in n:
                console.print(f"[bold red]{title}: {n['error']}")
            else:
                console.print(render([Check(**c) for c in n["checks"]], title))
        console.print(summary_table(report))
        console.print(f"{len(report['nodes'])} nodes, {len(failed)} with failing checks")

    _emit(report, out, as_json, show)
    if failed:
        sys.exit(1)


def _smoke(device: str | None, only: tuple[str, ...], out: str | None, as_json: bool) -> None:
    """Run the smoke cases, each line of progress on stderr as it happens."""
    from biril.config import ConfigError, build_config
    from biril.doctor import Check, render
    from biril.smoke import run_cases, trainer_cases
    from biril.trainer import resolve_device
    from sweeps.smoke import sweep_case

    try:
        target = resolve_device(build_config(device=device).device)
    except ConfigError as e:
        raise UserError(f"--{e}") from None  # "device: ..." names the flag
    except RuntimeError as e:
        raise UserError(f"--device: {e}") from None
    cases = {**trainer_cases(), "sweep 4 trials packed": sweep_case}
    unknown = [c for c in only if c not in cases]
    if unknown:
        raise UserError(f"--case: unknown {quote(unknown[0])}; choose from: {', '.join(cases)}")
    if only:
        cases = {name: case for name, case in cases.items() if name in only}

    def save(report: dict) -> None:
        if out:
            Path(out).write_text(json.dumps(report, indent=2))

    def log(line: str) -> None:
        click.echo(line, err=True)

    report = run_cases(cases, target, log=log, on_case=save)
    checks = [Check(**c) for c in report["cases"]]
    title = f"smoke on {report['device']}: {report['wall_s']:.0f} s"
    _emit(report, None, as_json, lambda console: console.print(render(checks, title)))
    if not report["ok"]:
        sys.exit(1)

