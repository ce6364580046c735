"""``objective: accuracy_energy``: spec validation and the two-objective search, by hand.

``RatioSearch`` is driven without a Ray cluster, as Tune would: suggest, then complete
with a last result carrying validation accuracy and energy.
"""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sweeps.searcher import RatioSearch
from sweeps.space import warm_start_params
from sweeps.spec import SpecError, load_spec, parse_spec
from sweeps.summary import summarize

optuna.logging.set_verbosity(optuna.logging.WARNING)


def energy_spec(**search):
    return parse_spec({
        "name": "unit",
        "objective": "accuracy_energy",
        "train": {"dataset": "digits", "epochs": 2},
        "search": {"warm_start": ["0:1:0", "1:0:0"], "num_trials": 4, **search},
        "scheduler": {"type": "none"},
    })


def last_result(trial_id: str, val: float, energy: float) -> dict:
    return {
        "trial_id": trial_id, "epoch": 2, "training_iteration": 2, "val_acc": val,
        "test_acc": val, "curve": [], "seconds": 1.0, "node_id": "n", "gpu_ids": [],
        "energy_pj_per_sample": energy, "sops_per_sample": energy / 0.9,
        "macs_per_sample": 10.0, "ann_energy_pj_per_sample": 9000.0,
    }


def test_objective_defaults_to_accuracy_and_validates():
    plain = parse_spec({"name": "p"})
    assert plain.objective == "accuracy" and plain.metrics == ["val_acc"]
    spec = energy_spec()
    assert spec.metrics == ["val_acc", "energy_pj_per_sample"] and spec.modes == ["max", "min"]
    with pytest.raises(SpecError, match="search.sampler: cmaes cannot search two objectives"):
        energy_spec(sampler="cmaes")
    with pytest.raises(SpecError, match="objective: Input should be 'accuracy' or"):
        parse_spec({"objective": "energy"})


def test_shipped_energy_spec():
    spec = load_spec("digits_energy")
    assert spec.objective == "accuracy_energy"
    assert spec.dataset == "digits"
    # No early stopping: a cut trial's energy would be from an earlier epoch than the rest.
    assert spec.scheduler.type == "none"
    assert "0:1:0" in spec.search.warm_start  # the pure-STBP baseline every budget is set by


def test_two_objective_study_records_accuracy_and_energy(tmp_path):
    url = f"sqlite:///{tmp_path}/biril.db"
    spec = energy_spec()
    searcher = RatioSearch(
        spec, optuna.storages.RDBStorage(url), "/r/digits/unit", warm_start_params(spec)[0]
    )
    outcomes = [(0.97, 1000.0), (0.40, 300.0), (0.95, 600.0), (0.93, 800.0)]
    for index, (val, energy) in enumerate(outcomes):
        tid = f"t{index}"
        assert isinstance(searcher.suggest(tid), dict)
        searcher.on_trial_result(tid, last_result(tid, val, energy))
        searcher.on_trial_complete(tid, last_result(tid, val, energy))
    study = optuna.load_study(study_name="digits/unit", storage=url)
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    trials = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert [t.values for t in trials] == [[v, e] for v, e in outcomes]
    attrs = trials[2].user_attrs
    assert attrs["energy_pj_per_sample"] == 600.0
    assert attrs["sops_per_sample"] == pytest.approx(600.0 / 0.9)
    assert attrs["macs_per_sample"] == 10.0 and attrs["ann_energy_pj_per_sample"] == 9000.0
    assert attrs["full_run"] is True
    # The front: 0.97@1000, 0.95@600, 0.40@300 (0.93@800 is dominated by 0.95@600).
    assert sorted(t.values[1] for t in study.best_trials) == [300.0, 600.0, 1000.0]
    summary = summarize(study, storage_url=url, results_dir="/r", expected_search=4,
                        wall_seconds=1.0)
    assert summary.best.val_acc == 0.97 and summary.complete
    front = [(p.val_acc, p.energy_pj_per_sample) for p in summary.pareto_front]
    assert front == [(0.40, 300.0), (0.95, 600.0), (0.97, 1000.0)]
    # t0 is the 0:1:0 warm start: budget 800 pJ; under it 0.95@600 beats 0.40@300
    assert summary.stbp_baseline.ratio == [0.0, 1.0, 0.0]
    assert summary.best_under_budget.energy_pj_per_sample == 600.0


def pareto_ranks(points: list[tuple[float, float]]) -> list[int]:
    """Non-domination rank by peeling fronts, brute force (max accuracy, min energy)."""
    ranks, left, rank = [0] * len(points), set(range(len(points))), 0
    while left:
        front = {
            i for i in left
            if not any(
                points[j][0] >= points[i][0] and points[j][1] <= points[i][1]
                and points[j] != points[i]
                for j in left
            )
        }
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


def test_nsga2_keeps_the_best_ranked_trials_as_parents(tmp_path):
    """Two objectives under NSGA-II: the 4 parents of generation 2 (population
    max(4, 8 // 3) = 4) never leave out a trial of a better Pareto rank than one they keep."""
    url = f"sqlite:///{tmp_path}/biril.db"
    spec = energy_spec(sampler="nsga2", num_trials=10)
    searcher = RatioSearch(
        spec, optuna.storages.RDBStorage(url), "/r/digits/unit", warm_start_params(spec)[0]
    )
    for i in range(10):
        tid = f"t{i}"
        stdp, stbp, both = searcher.suggest(tid)["ratio"]
        # STBP's share sets the accuracy, STDP-STBP's the energy: runs dominate each other
        searcher.on_trial_complete(tid, last_result(tid, 0.5 + 0.5 * stbp, 100 + 900 * both))
    study = searcher.study
    assert isinstance(study.sampler, optuna.samplers.NSGAIISampler)
    trials = study.get_trials(states=[TrialState.COMPLETE])
    assert len(trials) == 10
    evolved = [t for t in trials if t.system_attrs.get("NSGAIISampler:generation") in (0, 1)]
    assert len(evolved) == 8  # the 2 warm starts join no generation
    ranks = dict(zip(
        [t.number for t in evolved], pareto_ranks([tuple(t.values) for t in evolved]),
        strict=True,
    ))
    assert len(set(ranks.values())) > 1  # several fronts, so the choice is a real one
    kept = {t.number for t in study.sampler.get_parent_population(study, 2)}
    assert len(kept) == 4
    assert max(ranks[n] for n in kept) <= min(ranks[n] for n in ranks if n not in kept)


def test_per_epoch_energy_reaches_the_stored_curve(tmp_path):
    """Each epoch's energy rides in the trainable's curve; an epoch from a checkpoint that
    predates per-epoch energy has none, and reads back as NaN."""
    from analysis.store import load_curves

    url = f"sqlite:///{tmp_path}/biril.db"
    spec = energy_spec()
    searcher = RatioSearch(
        spec, optuna.storages.RDBStorage(url), "/r/digits/unit", warm_start_params(spec)[0]
    )
    searcher.suggest("t0")
    base = {"val_loss": 0.3, "train_loss": 0.4, "train_acc": 0.8, "epoch_seconds": 1.0,
            "samples_per_s": 50.0}
    result = last_result("t0", 0.9, 600.0)
    result["curve"] = [
        {"epoch": 1, "val_acc": 0.8, **base},
        {"epoch": 2, "val_acc": 0.9, **base, "energy_pj_per_sample": 600.0,
         "sops_per_sample": 600.0 / 0.9},
    ]
    searcher.on_trial_complete("t0", result)
    stored = optuna.load_study(study_name="digits/unit", storage=url).trials[0].user_attrs
    assert "energy_pj_per_sample" not in stored["curve"][0]
    assert stored["curve"][1]["energy_pj_per_sample"] == 600.0
    curves = load_curves(url)
    assert curves["epoch"].tolist() == [1, 2]
    assert math.isnan(curves["energy_pj_per_sample"][0])
    assert curves["energy_pj_per_sample"][1] == 600.0
    assert curves["sops_per_sample"][1] == pytest.approx(666.6667)
