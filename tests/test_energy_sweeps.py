"""``objective: accuracy_energy``: spec validation and the two-objective search, by hand.

``RatioSearch`` is driven without a Ray cluster, as Tune would: suggest, then complete
with a last result carrying validation accuracy and energy.
"""

from __future__ import annotations

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
    assert spec.dataset == "digits" and spec.search.num_trials == 8
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
    assert summary.best_val_acc == 0.97 and summary.complete
