"""``biril train``: one training run, its flags made from ``TrainConfig``'s fields."""

from __future__ import annotations

import json

import click

from biril.config import TrainConfig, read_yaml, validated

from .flags import flag_name, model_options


def _given(**options) -> dict:
    """Only the options the user actually set, so YAML and defaults fill the rest."""
    return {k: v for k, v in options.items() if v is not None}


@click.command()
@click.option("--config", "config_file", type=click.Path(), help="YAML file of TrainConfig fields.")
@model_options(TrainConfig)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --output-dir.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def train(config_file, resume, as_json, **options) -> None:
    """Train one BIRIL run and report validation and test accuracy."""
    from biril.checkpoint import CHECKPOINT_NAME

    flags = _given(**options)
    data = read_yaml(config_file, f"--config {config_file}") if config_file else {}
    config = validated(
        {**data, **flags}, lambda f: flag_name(f) if f in flags else f"{config_file}: {f}"
    )
    if config.output_dir is None:
        ratio = str(config.ratio).replace(":", "-")
        config.output_dir = f"runs/{config.dataset}-{ratio}-seed{config.seed}"
    if resume:
        config.resume_from = f"{config.output_dir}/{CHECKPOINT_NAME}"
    result = _run_training(config, quiet=as_json)
    if as_json:
        click.echo(json.dumps(result.summary()))


def _run_training(config, quiet: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from biril.trainer import train

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

