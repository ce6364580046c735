"""Synthetic results stores shaped like a team's: every attribute and curve, at any size.

Why: the read paths (``load_trials``, ``best_ratio``, ``biril report``) must stay fast as a
store grows to thousands of trials, and measuring that needs stores of that size written in
seconds, not weeks of sweeps. Each sweep here looks like a real digits sweep: the paper's
ratios and the pure baselines first, then random ratios; ASHA's mix of full runs (12
epochs) and runs stopped at its grace period; a few failed trials; a confirmation stage
(the top ratios on two more seeds, pure STBP on three); every trial attribute of
``results.schema`` and a per-epoch curve of every ``CURVE_KEYS`` key, accuracies counted on
144 validation images. Accuracy is a known bump on the simplex (``true_accuracy``).

The trials are bulk-inserted into Optuna's own tables (its SQLAlchemy models) in one
transaction: Optuna's ``add_trial`` commits per attribute and would take minutes at 10,000
trials. Optuna's API reads them back like any trial it wrote (``tests/test_store_scale.py``).
The studies themselves are created through Optuna, so the database is a real Optuna store.

Example::

    from analysis.synthetic import write_store
    write_store("sqlite:////tmp/big/biril.db", n_trials=10_000)
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from results.ratios import fractions
from results.schema import CURVE_KEYS, TRIAL_ATTRS
from results.store import open_storage

# Every sweep: the paper's five ratios and the three pure baselines first (as the specs'
# warm starts), then random ratios; ASHA keeps a third of the search to the end.
WARM_START = ("1:4:1", "1:6:2", "2:6:1", "1:8:3", "3:8:1", "1:0:0", "0:1:0", "0:0:1")
SEARCH_TRIALS = 96
EPOCHS, GRACE = 12, 4
FULL_FRACTION, FAIL_FRACTION = 1 / 3, 0.02
TOP_K, CONFIRM_SEEDS, STBP_SEEDS = 2, (1, 2), (0, 1, 2)
VAL_SIZE = 144
# The accuracy bump: 0.97 at PEAK, 0.70 far away; seed-to-seed SD 0.8 points.
PEAK, WIDTH, TOP, FLOOR, SEED_SD = (0.1, 0.65, 0.25), 0.25, 0.97, 0.70, 0.008
U_PARAMS = ("u_stdp", "u_stbp", "u_stdp_stbp")
U_DISTRIBUTION = json.dumps({
    "name": "FloatDistribution",
    "attributes": {"step": None, "low": 1e-12, "high": 1.0, "log": False},
})
SPIKE_LAYERS = ("stem_sn", "blocks.0.sn1", "blocks.0.sn2", "blocks.1.sn1", "blocks.1.sn2", "fc_sn")
# A failed trial carries what was set when it was asked for, and how far it got.
FAILED_ATTRS = ("dataset", "sweep", "trial_id", "trial_dir", "stage", "role", "seed", "ratio",
                "overrides", "confirms", "epochs_planned", "epochs_completed", "full_run")


def true_accuracy(fracs: np.ndarray) -> np.ndarray:
    """The store's accuracy landscape (before seed noise): a Gaussian bump at ``PEAK``."""
    sq = ((np.atleast_2d(fracs) - np.asarray(PEAK)) ** 2).sum(axis=1)
    return FLOOR + (TOP - FLOOR) * np.exp(-sq / (2 * WIDTH**2))


@dataclass(frozen=True)
class Planned:
    """One synthetic trial before it is written: what ran and how it ended."""

    ratio: tuple[float, float, float]
    seed: int
    role: str
    state: str  # COMPLETE | FAIL
    epochs: int
    confirms: int | None = None  # a confirmation run: the search trial it re-runs


def write_store(
    url: str, n_trials: int, dataset: str = "digits", seed: int = 0
) -> list[str]:
    """Write ``n_trials`` trials into the Optuna database at ``url``, in sweeps of about
    ``SEARCH_TRIALS`` + confirmation runs each; returns the study names."""
    import optuna
    import sqlalchemy

    check_schema()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    storage = open_storage(url, create=True)
    with storage.engine.connect() as connection:
        last_id = connection.execute(sqlalchemy.text("SELECT MAX(trial_id) FROM trials")).scalar()
    names, rows = [], _Rows(first_id=(last_id or 0) + 1)
    sweep = 0
    while rows.trials_written < n_trials:
        name = f"{dataset}/synthetic{sweep:04d}"
        study_id = _create_study(storage, dataset, f"synthetic{sweep:04d}", name)
        plan = _sweep_plan(rng, n_trials - rows.trials_written)
        for number, planned in enumerate(plan):
            rows.add(study_id, number, planned, dataset, name, rng)
        names.append(name)
        sweep += 1
    storage.engine.dispose()
    engine = sqlalchemy.create_engine(url)
    try:
        rows.insert(engine)
    finally:
        engine.dispose()
    return names


def _create_study(storage, dataset: str, sweep: str, name: str) -> int:
    """An Optuna study with the study attributes ``biril sweep`` sets."""
    import optuna

    study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], name)
    for key, value in {
        "dataset": dataset,
        "sweep": sweep,
        "spec": {"name": sweep, "train": {"dataset": dataset, "epochs": EPOCHS}},
        "results_dir": f"/results/{dataset}/{sweep}",
    }.items():
        storage.set_study_user_attr(study_id, key, value)
    return study_id


def _sweep_plan(rng: np.random.Generator, budget: int) -> list[Planned]:
    """One sweep's trials: warm starts, random search, then the confirmation stage."""
    ratios = [fractions(r) for r in WARM_START]
    ratios += [tuple(r) for r in rng.dirichlet([1.0, 1.0, 1.0], SEARCH_TRIALS - len(ratios))]
    search = []
    for ratio in ratios:
        failed = rng.random() < FAIL_FRACTION
        full = rng.random() < FULL_FRACTION
        search.append(Planned(ratio, 0, "search", "FAIL" if failed else "COMPLETE",
                              EPOCHS if full and not failed else GRACE))
    full_runs = [p for p in search if p.state == "COMPLETE" and p.epochs == EPOCHS]
    top = sorted(full_runs, key=lambda p: -float(true_accuracy(np.array(p.ratio))[0]))[:TOP_K]
    confirm = [Planned(p.ratio, s, "confirm", "COMPLETE", EPOCHS, search.index(p))
               for p in top for s in CONFIRM_SEEDS]
    stbp = [Planned(fractions("0:1:0"), s, "stbp_baseline", "COMPLETE", EPOCHS)
            for s in STBP_SEEDS]
    return (search + confirm + stbp)[:budget]


class _Rows:
    """The rows of Optuna's trial tables for every synthetic trial, inserted in one go."""

    def __init__(self, first_id: int) -> None:
        self.first_id = first_id
        self.trials: list[dict] = []
        self.values: list[dict] = []
        self.params: list[dict] = []
        self.attrs: list[dict] = []
        self.system: list[dict] = []
        self.intermediate: list[dict] = []
        self.start = dt.datetime(2026, 1, 1)

    @property
    def trials_written(self) -> int:
        return len(self.trials)

    def add(
        self, study_id: int, number: int, p: Planned, dataset: str, study: str,
        rng: np.random.Generator,
    ) -> None:
        trial_id = self.first_id + len(self.trials)
        final = _accuracy(p, rng)
        curve = _curve(final, p.epochs, p.ratio, rng)
        seconds = sum(e["epoch_seconds"] for e in curve)
        started = self.start + dt.timedelta(seconds=30 * trial_id)
        complete = p.state == "COMPLETE"
        self.trials.append({
            "trial_id": trial_id, "number": number, "study_id": study_id, "state": p.state,
            "datetime_start": started,
            "datetime_complete": started + dt.timedelta(seconds=seconds + 5),
        })
        if complete:
            self.values.append({"trial_id": trial_id, "objective": 0, "value": final,
                                "value_type": "FINITE"})
        us = [math.exp(-f) for f in p.ratio]
        self.params += [
            {"trial_id": trial_id, "param_name": name, "param_value": u,
             "distribution_json": U_DISTRIBUTION}
            for name, u in zip(U_PARAMS, us, strict=True)
        ]
        if p.role != "search" or number < len(WARM_START):  # enqueued: fixed u values
            self.system.append({"trial_id": trial_id, "key": "fixed_params",
                                "value_json": json.dumps(dict(zip(U_PARAMS, us, strict=True)))})
        self.intermediate += [
            {"trial_id": trial_id, "step": e["epoch"], "intermediate_value": e["val_acc"],
             "intermediate_value_type": "FINITE"}
            for e in curve
        ]
        attrs = _attrs(p, dataset, study, trial_id, final, curve, seconds, complete)
        self.attrs += [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in attrs.items()
        ]

    def insert(self, engine) -> None:
        """One transaction, one executemany per table, into the tables as Optuna created
        them (read back from the database, so no private Optuna module is needed)."""
        import sqlalchemy

        tables = {
            "trials": self.trials,
            "trial_values": self.values,
            "trial_params": self.params,
            "trial_user_attributes": self.attrs,
            "trial_system_attributes": self.system,
            "trial_intermediate_values": self.intermediate,
        }
        schema = sqlalchemy.MetaData()
        schema.reflect(engine, only=list(tables))
        with engine.begin() as connection:
            for name, rows in tables.items():
                if rows:
                    connection.execute(schema.tables[name].insert(), rows)


def _accuracy(p: Planned, rng: np.random.Generator) -> float:
    """Correct images out of ``VAL_SIZE``: the landscape, seed noise, less if stopped early."""
    truth = float(true_accuracy(np.array(p.ratio))[0]) - (0.04 if p.epochs < EPOCHS else 0.0)
    value = truth + rng.normal(0.0, SEED_SD)
    return round(min(max(value, 0.0), 1.0) * VAL_SIZE) / VAL_SIZE


STDP_LAYERS = ("stem_conv", "blocks.0.conv1", "blocks.0.conv2", "blocks.1.conv1",
               "blocks.1.conv2", "blocks.1.shortcut.0")


def _curve(
    final: float, epochs: int, ratio: tuple[float, float, float], rng: np.random.Generator
) -> list[dict[str, float]]:
    """A rising learning curve ending at ``final``, with every ``CURVE_KEYS`` key."""
    energy = 1.6e6 * (1.0 + 0.4 * ratio[0] - 0.2 * ratio[2])
    points = []
    for epoch in range(1, epochs + 1):
        reached = 1.0 - math.exp(-epoch / 2.0)
        acc = final * reached / (1.0 - math.exp(-epochs / 2.0))
        seconds = 4.0 + rng.random()
        point = {
            "epoch": epoch,
            "val_acc": acc,
            "val_loss": 0.4 * (1.0 - acc) + 0.02,
            "train_loss": 0.4 * (1.0 - acc),
            "train_acc": min(1.0, acc + 0.01),
            "epoch_seconds": seconds,
            "samples_per_s": 1300.0 / seconds,
            "energy_pj_per_sample": energy * (0.7 + 0.3 * reached),
            "sops_per_sample": energy * (0.7 + 0.3 * reached) / 0.95,
            # The small preset's six STDP layers (biril.diagnostics), as a real run records.
            "stdp": {
                layer: {"stdp_step": 2e-3 * ratio[0] * (1 - reached), "grad_step": 6e-3,
                        "filter_cos": 0.26, "init_cos": 1.0 - 0.4 * reached}
                for layer in STDP_LAYERS
            },
        }
        points.append(point)
    return points


def _attrs(
    p: Planned, dataset: str, study: str, trial_id: int, final: float, curve: list[dict],
    seconds: float, complete: bool,
) -> dict[str, Any]:
    """Every trial attribute of ``results.schema.TRIAL_ATTRS`` a trial like ``p`` carries."""
    sweep = study.partition("/")[2]
    tid = f"{trial_id:08x}"
    trial_dir = f"/results/{dataset}/{sweep}/trial_{tid}"
    full = complete and p.epochs == EPOCHS
    last = curve[-1]
    attrs: dict[str, Any] = {
        "dataset": dataset, "sweep": sweep, "trial_id": tid, "trial_dir": trial_dir,
        "stage": "search" if p.role == "search" else "confirm", "role": p.role,
        "seed": p.seed, "ratio": list(p.ratio), "overrides": {}, "params": {},
        "confirms": p.confirms,
        "epochs_planned": EPOCHS, "epochs_completed": p.epochs, "full_run": full,
        "val_acc": final, "val_size": VAL_SIZE, "test_acc": final - 0.002 if full else None,
        # A spec with train.probe: the linear probe of the last block, full runs only.
        "probe_gap": final - 0.3 if full else None, "probe_pool4": final - 0.05 if full else None,
        "curve": curve,
        "spike_rates": {layer: 0.1 + 0.02 * i for i, layer in enumerate(SPIKE_LAYERS)},
        "seconds": seconds, "node_id": "node-0", "gpu_ids": [],
        "hostname": "host-0", "gpu_name": None, "gpu_driver": None,
        "checkpoint": f"{trial_dir}/checkpoint_{p.epochs - 1:06d}",
        "energy_pj_per_sample": last["energy_pj_per_sample"],
        "sops_per_sample": last["sops_per_sample"],
        "macs_per_sample": 18432.0,
        "ann_energy_pj_per_sample": 9775257.6,
    }
    if p.role == "search":
        del attrs["confirms"]  # set only on enqueued confirmation runs
    if not complete:
        attrs = {k: v for k, v in attrs.items() if k in FAILED_ATTRS}
    return attrs


def check_schema() -> None:
    """Fail loudly when ``results.schema`` and this module disagree on an attribute or curve
    key: a synthetic store lacking one would time a lighter store than real ones."""
    rng = np.random.default_rng(0)
    curve = _curve(0.9, EPOCHS, fractions("1:8:3"), rng)
    confirm = Planned(fractions("1:8:3"), 1, "confirm", "COMPLETE", EPOCHS, confirms=0)
    attrs = _attrs(confirm, "digits", "digits/s", 1, 0.9, curve, 60.0, complete=True)
    for what, schema, written in (
        ("trial attributes", TRIAL_ATTRS, attrs), ("curve keys", CURVE_KEYS, curve[0])
    ):
        if set(schema) != set(written):
            raise RuntimeError(
                f"analysis/synthetic.py is out of step with results.schema's {what}: "
                f"missing {sorted(set(schema) - set(written))}, "
                f"extra {sorted(set(written) - set(schema))}"
            )
