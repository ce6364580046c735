"""Which trials count, and what each contributes to the ranking: one ``Run`` per full run.

A trial counts when it completed every planned epoch (``full_run``) and so was tested: an
early-stopped trial's accuracy is from an earlier epoch and would drag its ratio down, and
a failed one has none. Optuna trials are read by duck typing (``state.name``,
``user_attrs``, ``values``, ``number``), so this module needs no Optuna import.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from .ratios import Shares, fractions, ratio_key
from .schema import ENERGY, PROBE_KEYS

# What makes runs one config: their sweep (study), ratio and searched params.
Config = tuple[str, Shares, str]
# The user attributes ``run_of`` reads: what a reader that only ranks selects from the store
# (``analysis.best_ratio`` reads these and nothing else).
RUN_ATTRS = (
    "full_run", "ratio", "seed", "test_acc", ENERGY, "val_size", "trial_id", "checkpoint",
    "params", "overrides", *PROBE_KEYS.values(),
)


@dataclass(frozen=True)
class Run:
    """One full run: its sweep, ratio, seed and what it measured.

    ``params`` are the searched ``TrainConfig`` values it ran with (spec ``search.params``),
    ``overrides`` what a confirmation variant changed (the frozen control's
    ``{"stdp_lr": 0}``): both part of which config it measured, beside the ratio.
    ``probe``: the linear probe's validation accuracy per pooling (``schema.PROBE_POOLS``),
    {} for a run that fitted none.
    """

    dataset: str
    sweep: str
    study: str
    ratio: Shares
    seed: int
    val_acc: float
    test_acc: float | None = None
    energy_pj_per_sample: float | None = None
    val_size: int | None = None
    trial_number: int | None = None
    trial_id: str | None = None
    checkpoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, float] = field(default_factory=dict)


def params_key(params: dict[str, Any]) -> str:
    """A config's searched params (or overrides) as one hashable, order-free value."""
    return json.dumps(params, sort_keys=True)


def config_of(study: str, ratio: Any, params: dict[str, Any]) -> Config:
    """The config a run (or a ratio's standing) measured."""
    return study, ratio_key(ratio), params_key(params)


def mean(values: Iterable[float]) -> float:
    """``statistics.mean``, exactly, without its cost (exact fractions) on the single value
    most ratios and seeds have: a large store's ranking takes tens of thousands of means."""
    values = list(values)
    return values[0] if len(values) == 1 else statistics.mean(values)


def seed_means(
    runs: Iterable[Run], value: Callable[[Run], float | None] = attrgetter("val_acc")
) -> dict[int, float]:
    """A run's ``value`` (validation accuracy unless told) per seed, runs sharing a seed
    averaged (so it counts once); runs without the value (None) are left out."""
    by_seed: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        if (v := value(run)) is not None:
            by_seed[run.seed].append(v)
    return {seed: mean(values) for seed, values in sorted(by_seed.items())}


def probe_means(runs: Iterable[Run], pool: str) -> dict[int, float]:
    """The linear probe's accuracy at ``pool`` per seed, over the runs that fitted one."""
    return seed_means(runs, lambda run: run.probe.get(pool))


def is_full_run(trial: Any) -> bool:
    """A completed trial that trained every planned epoch (so it has a test accuracy)."""
    return (
        trial.state.name == "COMPLETE"
        and bool(trial.user_attrs.get("full_run"))
        and bool(trial.values)
    )


def accuracy(trial: Any) -> float | None:
    """Validation accuracy: the study's first objective (``value`` raises on two)."""
    return trial.values[0] if trial.values else trial.user_attrs.get("val_acc")


def run_of(trial: Any, dataset: str, sweep: str, study: str) -> Run | None:
    """The ``Run`` a trial contributes, or None when it does not count."""
    if not is_full_run(trial):
        return None
    attrs = trial.user_attrs
    return Run(
        dataset=dataset,
        sweep=sweep,
        study=study,
        ratio=fractions(attrs["ratio"]),
        seed=int(attrs["seed"]),
        val_acc=float(trial.values[0]),
        test_acc=attrs.get("test_acc"),
        # The second objective of an accuracy_energy sweep; an attribute in every sweep.
        energy_pj_per_sample=trial.values[1] if len(trial.values) > 1 else attrs.get(ENERGY),
        val_size=attrs.get("val_size"),
        trial_number=trial.number,
        trial_id=attrs.get("trial_id"),
        checkpoint=attrs.get("checkpoint"),
        params=dict(attrs.get("params") or {}),
        overrides=dict(attrs.get("overrides") or {}),
        probe={
            pool: float(attrs[key]) for pool, key in PROBE_KEYS.items()
            if attrs.get(key) is not None
        },
    )
