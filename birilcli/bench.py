"""``biril bench``: the benchmark suite's command; the suite itself is ``biril.bench``."""

from __future__ import annotations

import json

import click

from results.errors import UserError

from .flags import flag_name


@click.command()
@click.option("--preset", "presets", multiple=True, help="small | mnist | paper18 (repeatable).")
@click.option(
    "--only", "sections", multiple=True,
    help="neuron | step | stdp | sweep | memory | store (repeatable), or search alone.",
)
@click.option("--search-reps", default=60, show_default=True,
              help="--only search: synthetic landscapes to run.")
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
def bench(presets, sections, store_sizes, as_json, search_reps, **options) -> None:
    """Benchmark suite: neuron, training step, conv STDP, sweep efficiency, memory, store.

    Every figure is a median over repetitions after warm-up, contenders interleaved in
    one process; the headline figures are ratios. ``--only search`` (alone) is the
    sweep's search on synthetic landscapes (``sweeps.bench_search``), no training.
    """
    if "search" in sections:
        _bench_search(sections, search_reps, as_json)
        return
    from pydantic import ValidationError
    from rich.console import Console

    from biril.bench import BenchOptions, check_device, render, run_suite
    from biril.config import ConfigError, describe_validation_error

    fields = {**options, **({"presets": presets} if presets else {})}
    fields.update({"sections": sections} if sections else {})
    fields.update({"store_sizes": store_sizes} if store_sizes else {})
    try:
        opts = BenchOptions(**fields)
    except ValidationError as e:
        flags = {"presets": "--preset", "sections": "--only", "store_sizes": "--store-size"}
        problems = describe_validation_error(e, lambda f: flags.get(f, flag_name(f)))
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


def _bench_search(sections: tuple[str, ...], reps: int, as_json: bool) -> None:
    if len(sections) > 1 or reps < 1:
        raise UserError(
            "--only search runs alone (give no other --only) with --search-reps of 1 or more"
        )
    from rich.console import Console

    from sweeps.bench_search import bench_search, rung_table, search_table

    result = bench_search(reps=reps)
    if as_json:
        click.echo(json.dumps(result))
    else:
        Console().print(search_table(result), rung_table(result))
