"""``biril bench --only store``: the store's read paths timed at two sizes, beside Optuna's own.

A team's results root grows to thousands of trials; what matters is that reading it stays
cheap and grows no faster than the store. For each size (1,000 and 10,000 trials by
default) a synthetic store is written through the results schema (``analysis.synthetic``:
every attribute, a 12-epoch curve per trial), then, interleaved within every repetition:

- ``load_trials``: the trials frame, in this process (imports already done);
- ``best_ratio``: the lookup, in this process;
- ``biril best --json`` and ``biril report``: the commands in a fresh interpreter each, as a
  user runs them (interpreter start and imports included);
- ``trials_dataframe``: Optuna's own ``study.trials_dataframe()`` of every study in the
  store, in this process — the anchor: the same store read the way Optuna reads it.

Each figure is the median wall time (and CPU time, which neighbours on a shared machine
disturb less) with its growth exponent between the smallest and largest store,
``log(t_large / t_small) / log(n_large / n_small)``: 1 is linear, 0 a fixed cost.

It lives in ``analysis`` rather than ``biril.bench``: the trainer library imports neither the
store's readers nor Optuna; ``biril bench`` hands ``bench_store`` to ``run_suite``.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DATASET = "digits"
FIGURES = ("load_trials", "best_ratio", "best_command", "report_command", "trials_dataframe")
# What the figures must stay within at 10,000 trials (issue 17), shown beside them.
GOALS = {"best_command": 2.0, "report_command": 30.0}
REPORT_MB_GOAL = 15.0


def bench_store(
    sizes: Sequence[int], reps: int, log: Callable[[str], None] = lambda s: None
) -> dict:
    """Time the store's read paths on synthetic stores of ``sizes`` trials, ``reps`` times."""
    import optuna

    import analysis
    from analysis.report import CURVES_SUFFIX
    from analysis.synthetic import write_store
    from results.layout import sqlite_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sizes = sorted(set(sizes))
    with tempfile.TemporaryDirectory(prefix="biril-store-bench-") as tmp:
        roots, build = {}, {}
        for n in sizes:
            root = Path(tmp) / f"trials-{n}"
            root.mkdir()
            start = time.perf_counter()
            write_store(sqlite_url(str(root)), n, dataset=DATASET)
            build[n] = time.perf_counter() - start
            roots[n] = root
            log(f"store: wrote {n:,} synthetic trials in {build[n]:.1f} s")
        contenders = {
            "load_trials": lambda root: analysis.load_trials(root),
            "best_ratio": lambda root: analysis.best_ratio(DATASET, storage=root),
            "best_command": lambda root: _biril("best", "--dataset", DATASET, "--storage",
                                                str(root), "--json"),
            "report_command": lambda root: _biril("report", "--storage", str(root), "-o",
                                                  str(root / "report.html")),
            "trials_dataframe": _trials_dataframes,
        }
        # In-process contenders once on the smallest store first: first-use costs (imports,
        # caches) are not the store's. The commands start cold every time, as users run them.
        for name in ("load_trials", "best_ratio", "trials_dataframe"):
            contenders[name](roots[sizes[0]])
        wall = {name: {n: [] for n in sizes} for name in FIGURES}
        cpu = {name: {n: [] for n in sizes} for name in FIGURES}
        for rep in range(reps):
            for n in sizes:
                log(f"store: repetition {rep + 1}/{reps}, {n:,} trials")
                for name in FIGURES:
                    wall_s, cpu_s = _timed(contenders[name], roots[n])
                    wall[name][n].append(wall_s)
                    cpu[name][n].append(cpu_s)
        report_mb = {n: _mb(roots[n] / "report.html") for n in sizes}
        csv_mb = {n: _mb(roots[n] / f"report{CURVES_SUFFIX}") for n in sizes}
    return _summary(sizes, reps, build, wall, cpu, report_mb, csv_mb)


def _biril(*args: str) -> None:
    """One ``biril`` command in a fresh interpreter; its output is not part of the bench."""
    subprocess.run(
        [sys.executable, "-m", "birilcli", *args], check=True, capture_output=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def _trials_dataframes(root: Path) -> None:
    """Optuna's ``trials_dataframe()`` of every study in the store."""
    import optuna

    url = f"sqlite:///{root}/biril.db"
    for name in optuna.get_all_study_names(url):
        optuna.load_study(study_name=name, storage=url).trials_dataframe()


def _timed(action: Callable[[Path], object], root: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``action(root)``: this process's CPU plus its children's."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, own = time.perf_counter(), time.process_time()
    action(root)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return time.perf_counter() - wall, time.process_time() - own + spent


def _mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def _summary(
    sizes: list[int], reps: int, build: dict, wall: dict, cpu: dict, report_mb: dict,
    csv_mb: dict,
) -> dict:
    """Medians per figure and size, growth exponents, the anchor ratio, JSON-ready."""
    figures = {}
    for name in FIGURES:
        wall_s = {n: statistics.median(wall[name][n]) for n in sizes}
        cpu_s = {n: statistics.median(cpu[name][n]) for n in sizes}
        figures[name] = {
            "wall_s": {str(n): wall_s[n] for n in sizes},
            "cpu_s": {str(n): cpu_s[n] for n in sizes},
            "growth_exponent": growth_exponent(sizes, wall_s),
            "growth_exponent_cpu": growth_exponent(sizes, cpu_s),
        }
    anchor = {
        str(n): figures["load_trials"]["wall_s"][str(n)]
        / figures["trials_dataframe"]["wall_s"][str(n)]
        for n in sizes
    }
    return {
        "dataset": DATASET,
        "sizes": sizes,
        "reps": reps,
        "build_s": {str(n): build[n] for n in sizes},
        "figures": figures,
        "report_mb": {str(n): report_mb[n] for n in sizes},
        "curves_csv_mb": {str(n): csv_mb[n] for n in sizes},
        "load_trials_over_trials_dataframe": anchor,
        "goals": {**{f"{k}_s": v for k, v in GOALS.items()}, "report_mb": REPORT_MB_GOAL},
    }


def growth_exponent(sizes: list[int], seconds: dict[int, float]) -> float | None:
    """``log(t_last / t_first) / log(n_last / n_first)``; None with a single size."""
    first, last = sizes[0], sizes[-1]
    if first == last or seconds[first] <= 0:
        return None
    return math.log(seconds[last] / seconds[first]) / math.log(last / first)


def store_table(store: dict):
    """The store bench as a rich table: median wall (CPU) seconds per size, the exponent."""
    from rich.table import Table

    sizes = [str(n) for n in store["sizes"]]
    table = Table(title=f"store reads, median of {store['reps']} (wall s, CPU s in brackets)")
    table.add_column("figure")
    for n in sizes:
        table.add_column(f"{int(n):,} trials")
    table.add_column("growth exponent")
    for name, figure in store["figures"].items():
        exponent = figure["growth_exponent"]
        table.add_row(
            name,
            *(f"{figure['wall_s'][n]:.2f} ({figure['cpu_s'][n]:.2f})" for n in sizes),
            "—" if exponent is None else f"{exponent:.2f}",
        )
    table.add_row("report size (MB)", *(f"{store['report_mb'][n]:.1f}" for n in sizes), "")
    table.add_row("load_trials / trials_dataframe",
                  *(f"{store['load_trials_over_trials_dataframe'][n]:.3f}" for n in sizes), "")
    table.add_row("writing the store (s)", *(f"{store['build_s'][n]:.1f}" for n in sizes), "")
    return table
