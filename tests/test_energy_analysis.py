"""Energy analysis on a synthetic two-objective store: Pareto front, budgets, CLI, report.

The store is written with Optuna's API as an ``objective: accuracy_energy`` sweep leaves it:
a study with directions (maximize, minimize), values (val_acc, energy) and the energy attrs.
"""

from __future__ import annotations

import json
import math

import optuna
import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.best import best_ratio
from analysis.energy import fit_energy_surface, pareto_front
from analysis.plots import curves_figure
from analysis.ratios import fractions
from analysis.store import StoreError, load_curves, load_frames, load_trials
from birilcli.main import cli
from results.pareto import non_dominated

optuna.logging.set_verbosity(optuna.logging.WARNING)
U_PARAMS = ("u_stdp", "u_stbp", "u_stdp_stbp")
# (ratio, val_acc, energy pJ/sample, full run)
RUNS = [
    ("0:1:0", 0.97, 1000.0, True),  # most accurate, most costly
    ("1:8:3", 0.96, 700.0, True),  # on the front
    ("1:6:2", 0.95, 750.0, True),  # dominated by 1:8:3 (less accurate, costlier)
    ("2:6:1", 0.90, 500.0, True),  # on the front
    ("1:0:0", 0.50, 500.0, True),  # dominated by 2:6:1 (same energy, less accurate)
    ("0:0:1", 0.99, 100.0, False),  # stopped early: never on the front
]


def write_energy_sweep(url: str, runs=RUNS, dataset: str = "digits") -> None:
    study = optuna.create_study(
        storage=url, study_name=f"{dataset}/energy", directions=["maximize", "minimize"]
    )
    study.set_user_attr("dataset", dataset)
    study.set_user_attr("sweep", "energy")
    distribution = optuna.distributions.FloatDistribution(1e-12, 1.0)
    for index, (ratio, val, energy, full) in enumerate(runs):
        fracs = [float(f) for f in fractions(ratio)]
        attrs = {
            "dataset": dataset, "sweep": "energy", "stage": "search", "ratio": fracs,
            "seed": 0, "epochs_planned": 8, "epochs_completed": 8 if full else 3,
            "full_run": full, "val_acc": val, "trial_id": f"t{index}",
            "curve": [  # energy falls as the network learns to fire less
                {"epoch": 1, "val_acc": val / 2, "train_loss": 1.0,
                 "energy_pj_per_sample": 2 * energy, "sops_per_sample": 2 * energy / 0.9},
                {"epoch": 2, "val_acc": val, "train_loss": 0.5,
                 "energy_pj_per_sample": energy, "sops_per_sample": energy / 0.9},
            ],
            "energy_pj_per_sample": energy, "sops_per_sample": energy / 0.9,
            "macs_per_sample": 0.0, "ann_energy_pj_per_sample": 5000.0,
        }
        if full:
            attrs["test_acc"] = val
        study.add_trial(optuna.trial.create_trial(
            params={n: math.exp(-f) for n, f in zip(U_PARAMS, fracs, strict=True)},
            distributions=dict.fromkeys(U_PARAMS, distribution),
            values=[val, energy], user_attrs=attrs,
        ))


@pytest.fixture
def store(tmp_path) -> str:
    write_energy_sweep(f"sqlite:///{tmp_path}/biril.db")
    return str(tmp_path)


def test_store_reads_two_objective_trials_with_energy(store):
    trials = load_trials(store)
    assert len(trials) == len(RUNS)
    row = trials.set_index("trial_id").loc["t1"]
    assert row["val_acc"] == 0.96
    assert row["energy_pj_per_sample"] == 700.0
    assert row["ann_energy_pj_per_sample"] == 5000.0


def test_pareto_front_by_hand(store):
    front = pareto_front(load_trials(store))
    assert front["trial_id"].tolist() == ["t3", "t1", "t0"]  # cheapest first


def test_pareto_front_keeps_equal_runs():
    trials = pd.DataFrame({
        "state": ["COMPLETE"] * 3, "full_run": [True] * 3,
        "val_acc": [0.9, 0.9, 0.8], "energy_pj_per_sample": [1.0, 1.0, 2.0],
    })
    front = pareto_front(trials)
    assert len(front) == 2  # two identical runs do not dominate each other; the third is


def test_non_dominated_by_hand():
    acc = [0.9, 0.8, 0.9, 0.7, 0.95]
    energy = [5.0, 4.0, 6.0, 4.0, 9.0]
    # 0.9@6 loses to 0.9@5; 0.7@4 to 0.8@4; the rest trade accuracy for energy
    assert non_dominated(acc, energy).tolist() == [True, True, False, False, True]
    assert non_dominated([], []).tolist() == []


def test_best_ratio_within_an_energy_budget(store):
    assert best_ratio("digits", storage=store).ratio_int == "0:1:0"
    best = best_ratio("digits", storage=store, max_energy=800)
    assert best.ratio_int == "1:8:3"
    assert best.energy_pj_per_sample == 700.0
    assert best_ratio("digits", storage=store, max_energy=600).ratio_int == "2:6:1"
    with pytest.raises(StoreError, match="cheapest is .* at 500 pJ"):
        best_ratio("digits", storage=store, max_energy=100)  # 0:0:1 was not a full run
    with pytest.raises(ValueError, match="max_energy must be a positive"):
        best_ratio("digits", storage=store, max_energy=0)


def test_best_command_max_energy(store):
    best = ["best", "--dataset", "digits", "--storage", store, "--max-energy"]
    out = CliRunner().invoke(cli, [*best, "800", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["ratio_int"] == "1:8:3"
    out = CliRunner().invoke(cli, [*best, "800"])
    assert "energy       700 pJ per sample (budget 800 pJ)" in out.output
    out = CliRunner().invoke(cli, [*best, "10"])
    assert out.exit_code == 2 and "raise --max-energy" in out.output
    out = CliRunner().invoke(cli, [*best, "-1"])
    assert out.exit_code == 2 and "--max-energy" in out.output


def test_energy_surface_follows_log_energy():
    # Energy doubling with every 1/3 of STBP share: the surface must rise along STBP.
    ratios = ["1:0:0", "0:1:0", "0:0:1", "1:1:1", "1:2:0", "0:2:1", "2:1:0"]
    fracs = [fractions(r) for r in ratios]
    energy = [1000 * 2 ** (3 * f[1]) for f in fracs]
    surface = fit_energy_surface(fracs, energy)
    low = surface.mean[surface.grid[:, 1] == 0].mean()
    high = surface.mean[surface.grid[:, 1] == 1].mean()
    assert high / low == pytest.approx(8, rel=0.25)
    with pytest.raises(ValueError, match="distinct ratios"):
        fit_energy_surface(fracs[:2], energy[:2])


def test_report_shows_the_pareto_front(store, tmp_path):
    out = CliRunner().invoke(cli, ["report", "--storage", store, "-o", str(tmp_path / "r.html")]
    )
    assert out.exit_code == 0, out.output
    page = (tmp_path / "r.html").read_text()
    assert "Accuracy versus energy" in page
    assert "Pareto front: 3 of 5 full runs" in page
    assert '"meta":"pareto"' in page
    assert "energy-surface-digits" in page
    assert "energy per validation sample (nJ)" in page  # the per-epoch energy curves


def test_curves_carry_energy_per_epoch(store):
    curves = load_curves(store)
    t1 = curves[curves["trial_id"] == "t1"]
    assert t1["epoch"].tolist() == [1, 2]
    assert t1["energy_pj_per_sample"].tolist() == [1400.0, 700.0]
    assert t1["sops_per_sample"].tolist() == pytest.approx([1400 / 0.9, 700 / 0.9])


def test_energy_curve_panel_only_for_sweeps_with_energy(store):
    _, curves = load_frames(store)
    shown = curves.assign(label=curves["ratio_int"])  # one legend entry per ratio
    figure = curves_figure(shown, "t")
    titles = [a.text for a in figure.layout.annotations]
    assert titles == [
        "validation accuracy", "training loss", "energy per validation sample (nJ)"
    ]
    energy = [tr for tr in figure.data if tr.xaxis == "x3"]
    assert [tr.name for tr in energy] == [ratio for ratio, *_ in RUNS]
    assert list(energy[1].y) == pytest.approx([1.4, 0.7])  # t1: 1400 then 700 pJ, in nJ
    old = shown.assign(energy_pj_per_sample=float("nan"))  # a sweep that predates it
    titles = [a.text for a in curves_figure(old, "t").layout.annotations]
    assert titles == ["validation accuracy", "training loss"]
