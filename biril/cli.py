"""``biril``: the one command-line face of the trainer, sweeps, cluster and analysis.

Sweeps, cluster and analysis commands are imported lazily by their own modules, so
``biril train`` never pays for Ray. Every user error ends as one line on stderr, exit 2:
each package raises its own error type, and ``USER_ERRORS`` below is the one place that
turns them into that line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXIT_USAGE = 2
# The errors a user can fix, by package: (module, class). The message names the flag or
# file and the fix. Looked up in the modules already imported (an error can only come from
# one of those), so mapping them costs ``biril --help`` no import.
USER_ERRORS = (
    ("biril.config", "ConfigError"),
    ("biril.checkpoint", "CheckpointError"),
    ("biril.datasets.registry", "DatasetError"),
    ("biril.trainer", "DivergenceError"),
    ("results.database", "DatabaseError"),
    ("sweeps.spec", "SweepError"),
    ("analysis.store", "StoreError"),
    ("cluster.errors", "ClusterError"),
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The ``USER_ERRORS`` classes of the packages loaded so far."""
    return tuple(getattr(sys.modules[m], name) for m, name in USER_ERRORS if m in sys.modules)


def one_line(text: str) -> str:
    return " ".join(text.split())


class UserError(click.ClickException):
    """A mistake the user can fix: ``error: <one line>`` on stderr, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:
        click.echo(f"error: {one_line(self.format_message())}", err=True)


class BirilGroup(click.Group):
    """The ``biril`` group: any command's user error becomes a ``UserError``."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as e:
            if isinstance(e, user_error_types()):
                raise UserError(str(e)) from None
            raise


@click.group(cls=BirilGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """BIRIL Sweeps: spiking ResNets trained by STDP : STBP : STDP-STBP ratios."""


def _given(**options) -> dict:
    """Only the options the user actually set, so YAML and defaults fill the rest."""
    return {k: v for k, v in options.items() if v is not None}


@cli.command()
@click.option("--config", "config_file", type=click.Path(), help="YAML file of TrainConfig fields.")
@click.option("--dataset", help="Dataset name (digits, mnist, cifar10, ...).")
@click.option("--data-root", help="Where datasets live (else $BIRIL_DATA, ~/.cache/biril/data).")
@click.option("--download", is_flag=True, default=None, help="Download missing data.")
@click.option("--ratio", help="STDP:STBP:STDP-STBP, e.g. 1:8:3.")
@click.option("--order", help="interleaved | blocked.")
@click.option("--granularity", help="iteration | epoch.")
@click.option("--cyclic", help="STDP-STBP variant: sequential | fused.")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int)
@click.option("--lr", type=float, help="STBP learning rate.")
@click.option("--optimizer", help="adam | sgd.")
@click.option(
    "--stdp-lr", type=float, help="Filter rotation per STDP step (radians); 0: frozen control."
)
@click.option("--tau-plus", type=float)
@click.option("--tau-minus", type=float)
@click.option("--a-plus", type=float)
@click.option("--a-minus", type=float, help="LTD amplitude (default: balanced against LTP).")
@click.option("--stdp-balance", type=float, help="LTD/LTP summed over the window (1.05).")
@click.option("--stdp-same-step", help="causal | ignore: how same-step spike pairs count.")
@click.option("--stdp-winners", type=float, help="Fraction of channels that learn per position.")
@click.option("--stdp-center/--no-stdp-center", default=None, help="Covariance-form STDP.")
@click.option("--stdp-linear/--no-stdp-linear", default=None, help="Also apply STDP to FC1.")
@click.option("--synaptic-norm/--no-synaptic-norm", default=None)
@click.option("--loss", help="mse | ce.")
@click.option("--time-steps", type=int)
@click.option("--preset", help="small | mnist | paper18 (default: the dataset's).")
@click.option("--seed", type=int)
@click.option("--device", help="cpu | cuda | cuda:N (default: cuda if available).")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast (CUDA, or a CPU with AMX).")
@click.option(
    "--stdp-precision", default=None, help="Conv STDP correlation: auto | float32 | bfloat16."
)
@click.option(
    "--channels-last/--no-channels-last", default=None, help="Channels-last convs (default on)."
)
@click.option(
    "--compact-spikes/--no-compact-spikes",
    default=None,
    help="Keep spikes for backward as booleans (less memory).",
)
@click.option("--output-dir", help="Checkpoint folder (default runs/<dataset>-<ratio>-seed<S>).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --output-dir.")
@click.option(
    "--overwrite", is_flag=True, default=None, help="Replace a checkpoint in --output-dir."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def train(config_file, resume, as_json, **options) -> None:
    """Train one BIRIL run and report validation and test accuracy."""
    from .config import read_yaml, validated  # no torch: a bad --config fails at once

    flags = _given(**options)
    data = read_yaml(config_file, f"--config {config_file}") if config_file else {}
    config = validated(
        {**data, **flags}, lambda f: _flag(f) if f in flags else f"{config_file}: {f}"
    )
    if config.output_dir is None:
        ratio = config.ratio.replace(":", "-")
        config.output_dir = f"runs/{config.dataset}-{ratio}-seed{config.seed}"
    if resume:
        from .checkpoint import CHECKPOINT_NAME

        config.resume_from = f"{config.output_dir}/{CHECKPOINT_NAME}"
    result = _run_training(config, quiet=as_json)
    if as_json:
        click.echo(json.dumps(result.summary()))


def _flag(field: str) -> str:
    """``time_steps`` → ``--time-steps``: the field as the user typed it."""
    return f"--{field.replace('_', '-')}"


def _run_training(config, quiet: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .trainer import train

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # a log or pipe gets the epoch lines alone
    ) as bar:
        task = bar.add_task("train", total=None, epoch=1, epochs=config.epochs, status="")

        def on_step(i: int, n: int) -> None:
            bar.update(task, completed=i, total=n)

        def on_epoch(m) -> None:
            line = (
                f"epoch {m.epoch:>3}/{config.epochs}  loss {m.train_loss:.4f}  "
                f"train {m.train_acc:.2%}  val {m.val_acc:.2%}  "
                f"{m.epoch_seconds:.1f}s  {m.samples_per_s:.0f} samples/s"
            )
            bar.console.print(line)
            bar.update(task, completed=0, epoch=m.epoch + 1, status=f"val {m.val_acc:.2%}")

        result = train(config, callback=on_epoch, progress=on_step)
    _print_summary(console, config, result)
    return result


def _print_summary(console, config, result) -> None:
    from rich.table import Table

    table = Table(title=f"BIRIL {config.dataset}  ratio {config.ratio}", show_header=False)
    table.add_row("validation accuracy", f"{result.val_acc:.2%}")
    table.add_row("test accuracy", f"{result.test_acc:.2%}")
    counts = result.mode_counts
    table.add_row(
        "steps STDP / STBP / STDP-STBP",
        f"{counts['stdp']} / {counts['stbp']} / {counts['stdp_stbp']}",
    )
    table.add_row("epochs", str(result.epochs))
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("checkpoint", str(result.checkpoint))
    console.print(table)


@cli.command()
@click.option("--preset", "presets", multiple=True, help="small | mnist | paper18 (repeatable).")
@click.option(
    "--only", "sections", multiple=True,
    help="neuron | step | stdp | sweep | memory | store (repeatable).",
)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--time-steps", default=4, show_default=True)
@click.option("--reps", default=5, show_default=True, help="Timed repetitions per contender.")
@click.option("--warmup", default=2, show_default=True)
@click.option("--device", default=None, help="cpu | cuda | cuda:N.")
@click.option(
    "--clock", default="wall", show_default=True, help="wall | cpu (CPU seconds; for a busy CPU)."
)
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")
@click.option(
    "--channels-last/--no-channels-last",
    default=True,
    show_default=True,
    help="Our network in channels-last layout.",
)
@click.option(
    "--stdp-precision",
    default="auto",
    show_default=True,
    help="Conv STDP correlation: auto | float32 | bfloat16.",
)
@click.option("--amp", is_flag=True, help="Our network under bf16 autocast (SpikingJelly: fp32).")
@click.option("--compact-spikes", is_flag=True, help="Our spikes saved for backward as bool.")
@click.option("--compile-neurons", is_flag=True, help="torch.compile the IF time scans.")
@click.option("--stdp-batch", default=64, show_default=True, help="Batch of the conv STDP test.")
@click.option("--stdp-reps", default=3, show_default=True)
@click.option("--sweep-trials", default=8, show_default=True)
@click.option("--sweep-slots", default=2, show_default=True)
@click.option("--sweep-epochs", default=3, show_default=True)
@click.option("--store-size", "store_sizes", type=int, multiple=True,
              help="Trials in a synthetic results store (repeatable) [default: 1000, 10000].")
@click.option("--store-reps", default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(presets, sections, store_sizes, as_json, **options) -> None:
    """Benchmark suite: neuron, training step, conv STDP, sweep efficiency, memory, store.

    Every figure is a median over repetitions after warm-up, contenders interleaved in
    one process; the headline figures are ratios.
    """
    from pydantic import ValidationError
    from rich.console import Console

    from .bench import BenchOptions, check_device, render, run_suite
    from .config import ConfigError, describe_validation_error

    fields = {**options, **({"presets": presets} if presets else {})}
    fields.update({"sections": sections} if sections else {})
    fields.update({"store_sizes": store_sizes} if store_sizes else {})
    try:
        opts = BenchOptions(**fields)
    except ValidationError as e:
        flags = {"presets": "--preset", "sections": "--only", "store_sizes": "--store-size"}
        problems = describe_validation_error(e, lambda f: flags.get(f, _flag(f)))
        raise ConfigError(problems) from None
    check_device(opts)
    log = Console(stderr=True)
    sweep = store = None
    if "sweep" in opts.sections:
        from sweeps.bench import bench_sweep as sweep
    if "store" in opts.sections:
        from analysis.bench import bench_store as store
    result = run_suite(opts, log=log.print, sweep=sweep, store=store)
    if as_json:
        click.echo(json.dumps(result))
        return
    console = Console()
    for table in render(result):
        console.print(table)
    if "sweep" in result:
        from sweeps.bench import sweep_table

        console.print(sweep_table(result["sweep"]))
    if "store" in result:
        from analysis.bench import store_table

        console.print(store_table(result["store"]))


@cli.command()
@click.option("--data-root", help="Where datasets live (else $BIRIL_DATA, ~/.cache/biril/data).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as one JSON list.")
def datasets(data_root, as_json) -> None:
    """List every dataset: found or missing, where, how many samples, input shape."""
    from rich.console import Console
    from rich.table import Table

    from .datasets import data_root as resolve_root
    from .datasets import inventory

    rows = inventory(data_root)
    if as_json:
        click.echo(json.dumps(rows))
        return
    root = resolve_root(data_root)
    # Paths below the root are shown relative to it; a long one wraps rather than being cut.
    table = Table(title=f"datasets under {root}")
    for col in ("dataset", "status", "path", "train", "val", "test", "input", "classes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        status = {"found": "[green]found", "missing": "[yellow]missing"}.get(
            r["status"], "[red]" + r["status"]
        )
        n = [str(r[k]) if r[k] is not None else "-" for k in ("n_train", "n_val", "n_test")]
        shape = "×".join(str(s) for s in r["input_shape"])
        path = r["path"].removeprefix(f"{root}/")
        table.add_row(r["name"], status, path, *n, shape, str(r["num_classes"]))
    console = Console()
    console.print(table)
    for r in rows:
        if r["status"] == "error":
            console.print(f"{r['name']}: {r['detail']}")


@cli.command()
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
@click.option("--overwrite", is_flag=True, help="Replace the --out file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def doctor(address, smoke, device, cases, dataset, out, overwrite, as_json, **where) -> None:
    """Check this machine (or every node of a cluster) before a sweep.

    Exit status 1 when a check the next sweep needs fails (or, with --smoke, a case).
    """
    if smoke and address:
        raise UserError("--smoke runs here; --address checks a cluster: pass one of them")
    if (device or cases) and not smoke:
        raise UserError(f"{'--device' if device else '--case'} belongs to --smoke: add --smoke")
    if out and Path(out).exists() and not overwrite:
        raise UserError(f"--out {out} exists; pass --overwrite to replace it, or name a new file")
    if dataset is not None:
        from .datasets import REGISTRY

        if dataset not in REGISTRY:
            raise UserError(f"--dataset: unknown {dataset!r}; choose one of: {', '.join(REGISTRY)}")
    if smoke:
        _smoke(device, cases, out, as_json)
        return
    if address is not None:
        _doctor_cluster(address, {**where, "dataset": dataset}, out, as_json)
        return
    from cluster.doctor import machine_checks

    from .doctor import failed_required, render

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
    from cluster.doctor import check_cluster, summary_table
    from cluster.errors import ClusterError

    from .doctor import Check, failed_required, render

    try:
        report = check_cluster(address, options)
    except ClusterError as e:
        raise UserError(str(e)) from None
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
    from sweeps.smoke import sweep_case

    from .config import ConfigError, build_config
    from .doctor import Check, render
    from .smoke import run_cases, trainer_cases
    from .trainer import resolve_device

    try:
        target = resolve_device(build_config(device=device).device)
    except ConfigError as e:
        raise UserError(f"--{e}") from None  # "device: ..." names the flag
    except RuntimeError as e:
        raise UserError(f"--device: {e}") from None
    cases = {**trainer_cases(), "sweep 4 trials packed": sweep_case}
    unknown = [c for c in only if c not in cases]
    if unknown:
        raise UserError(f"--case: unknown {unknown[0]!r}; choose from: {', '.join(cases)}")
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


def _register_package_commands() -> None:
    """The sweeps, cluster and analysis commands; their modules import only click."""
    from analysis.cli import best_command, report_command
    from cluster.cli import cluster_group, jobs_group, submit_command
    from sweeps.cli import sweep_command

    sweep = sweep_command(write_report=_write_report)
    for command in (sweep, submit_command, cluster_group, jobs_group):
        cli.add_command(command)
    cli.add_command(report_command)
    cli.add_command(best_command)


def _write_report(storage: str, dataset: str, output: Path, overwrite: bool) -> Path:
    """The HTML report ``biril sweep`` writes at its end (analysis loads only then)."""
    from analysis.report import write_report

    return write_report(storage, dataset=dataset, output=output, overwrite=overwrite)


_register_package_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: click's usage errors, like ``UserError``, become one line and exit 2."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        UserError(e.format_message()).show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
