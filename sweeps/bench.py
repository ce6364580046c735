"""``biril bench --only sweep``: how much of a sweep's slot time goes to training.

It lives here rather than in ``biril.bench`` because it runs Ray, which the trainer
library never imports; ``biril bench`` hands ``bench_sweep`` to ``biril.bench.run_suite``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator

import optuna
import ray
from rich.table import Table

from biril.bench import BenchOptions

from .runner import run_sweep
from .spec import parse_spec


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send this process's stdout (Python's and file descriptor 1) to stderr for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def bench_sweep(opts: BenchOptions) -> dict:
    """The same short sweep on digits with trial actors reused, then with fresh ones.

    Efficiency = (Σ trial seconds / slots) / sweep wall time, where a trial's seconds are
    its trainer's own; everything else (actor start-up, reporting, scheduling) is idle slot.
    """
    reused = timed_sweep(opts, reuse_actors=True)
    fresh = timed_sweep(opts, reuse_actors=False)
    out = {
        "trials": opts.sweep_trials,
        "slots": opts.sweep_slots,
        "epochs_per_trial": opts.sweep_epochs,
        "sweep_efficiency": reused["efficiency"],
        "sweep_efficiency_fresh_actors": fresh["efficiency"],
        "reused_actors": reused,
        "fresh_actors": fresh,
    }
    if reused["efficiency"] is None:
        out["sweep_efficiency_reason"] = reused["reason"]
    return out


def timed_sweep(opts: BenchOptions, reuse_actors: bool) -> dict:
    """One sweep of ``opts.sweep_trials`` fixed ratios on a Ray started beforehand.

    Ray is started here first, so the wall time is the sweep's own (study, actors,
    trials, reporting), not Ray's start-up.
    """
    ratios = ["1:8:3", "1:6:2", "2:6:1", "1:4:1", "3:8:1", "1:0:0", "0:1:0", "0:0:1"]
    warm = [ratios[i % len(ratios)] for i in range(opts.sweep_trials)]
    spec = parse_spec(
        {
            "name": "bench",
            "train": {"dataset": "digits", "epochs": opts.sweep_epochs, "device": "cpu"},
            # Repeated ratios are distinct trials: the search itself is not being timed.
            "search": {"num_trials": opts.sweep_trials, "warm_start": warm, "sampler": "random"},
            "scheduler": {"type": "none"},
            "resources": {
                "cpus_per_trial": 1,
                "max_concurrent": opts.sweep_slots,
                "reuse_actors": reuse_actors,
            },
        },
        source="biril bench",
    )
    root = tempfile.mkdtemp(prefix="biril-bench-sweep-")
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(num_cpus=opts.sweep_slots, include_dashboard=False, log_to_driver=False)
    try:
        with stdout_to_stderr():  # Tune prints its banner on stdout, where --json goes
            t0, epoch0 = time.perf_counter(), time.time()
            summary = run_sweep(spec, storage=root, progress=False)
            wall = time.perf_counter() - t0
        study = optuna.load_study(study_name=summary.study, storage=summary.storage)
    finally:
        if started_ray:
            ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    trials = [t for t in study.trials if t.user_attrs.get("seconds") and t.datetime_complete]
    seconds = [t.user_attrs["seconds"] for t in trials]
    # Time a slot held a trial beyond the trial's own work: actor start-up and reporting.
    overhead = [
        (t.datetime_complete - t.datetime_start).total_seconds() - t.user_attrs["seconds"]
        for t in trials
    ]
    done = len(seconds) == opts.sweep_trials
    return {
        "wall_s": wall,
        "trial_seconds": seconds,
        "efficiency": sum(seconds) / opts.sweep_slots / wall if done else None,
        "overhead_per_trial_s": statistics.median(overhead) if overhead else None,
        "idle_slot_s": idle_slot_seconds(trials, overhead, epoch0, wall, opts.sweep_slots),
        "reason": None if done else f"only {len(seconds)} of {opts.sweep_trials} finished",
    }


def idle_slot_seconds(trials, overhead: list[float], epoch0: float, wall: float, slots: int):
    """Where the slot-seconds not spent training went; the three parts sum to the whole.

    Before the first trial (study and Tune set-up, on every slot), held by a trial beyond
    its training (``overhead``: actor start-up, reporting), and no trial at all (waiting
    for the searcher, a stage barrier, the last trials' tail).
    """
    if not trials:
        return None
    first = min(t.datetime_start.timestamp() for t in trials) - epoch0
    held = sum(t.user_attrs["seconds"] for t in trials) + sum(overhead)
    return {
        "before_first_trial": slots * first,
        "held_beyond_training": sum(overhead),
        "no_trial_running": slots * (wall - first) - held,
    }


def sweep_table(sw: dict) -> Table:
    """The sweep section as a terminal table: reused against fresh trial actors."""
    t = Table(
        title=f"sweep: {sw['trials']} trials x {sw['epochs_per_trial']} epoch(s), "
        f"{sw['slots']} slots"
    )
    idle_cols = ("idle s: set-up", "in trials", "between")
    for col in ("trial actors", "wall s", "Σ trial s", "idle per trial s", *idle_cols):
        t.add_column(col)
    t.add_column("efficiency")
    for name in ("reused_actors", "fresh_actors"):
        run = sw[name]
        eff = run["efficiency"]
        idle = run["idle_slot_s"] or dict.fromkeys(idle_cols, float("nan"))
        t.add_row(
            name.split("_")[0],
            f"{run['wall_s']:.1f}",
            f"{sum(run['trial_seconds']):.1f}",
            f"{run['overhead_per_trial_s']:.2f}" if run["overhead_per_trial_s"] else "-",
            *(f"{v:.1f}" for v in idle.values()),
            f"{eff:.3f}" if eff is not None else run["reason"],
        )
    return t
