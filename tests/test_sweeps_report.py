"""What the user sees: the live trial table and the end summary (from a real study)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from sweeps.progress import ProgressTable
from sweeps.summary import summarize

optuna.logging.set_verbosity(optuna.logging.WARNING)


def fake_trial(tid, status, ratio, epoch, val, test=None):
    result = {"epoch": epoch, "val_acc": val}
    if test is not None:
        result["test_acc"] = test
    config = {"ratio": ratio, "seed": 0, "stage": "search"}
    return SimpleNamespace(trial_id=tid, status=status, config=config, last_result=result)


def test_table_shows_each_trial_and_the_count_finished():
    table = ProgressTable("sweep digits/laptop", total=14, epochs=12)
    trials = [
        fake_trial("a1", "TERMINATED", [1 / 12, 8 / 12, 3 / 12], 12, 0.986, 0.983),
        fake_trial("b2", "RUNNING", [0.0, 1.0, 0.0], 5, 0.9),
    ]
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=False).print(table.table(trials))
    text = out.getvalue()
    assert "1/14 trials finished" in text
    assert "0.08 : 0.67 : 0.25" in text and "98.6%" in text and "98.3%" in text
    assert "5/12" in text and "RUNNING" in text


def test_table_redraws_live_on_a_terminal_and_survives_pickling():
    import pickle

    table = pickle.loads(pickle.dumps(ProgressTable("sweep t", total=2, epochs=3)))
    table._console = Console(file=io.StringIO(), force_terminal=True, width=120)
    table.setup()
    assert table._live is not None
    trial = fake_trial("a1", "RUNNING", [0.5, 0.5, 0.0], 2, 0.5)
    table.on_trial_result(0, [trial], trial, trial.last_result)
    table.on_experiment_end([trial])
    assert table._live is None
    assert "a1" in table._console.file.getvalue()
    assert "0/2 trials finished" in table._console.file.getvalue()


def test_table_prints_one_line_per_finished_trial_in_a_log():
    table = ProgressTable("sweep t", total=2, epochs=3)
    table._console = Console(file=io.StringIO(), force_terminal=False, width=40)
    table.setup()
    trial = fake_trial("a1", "TERMINATED", [0.5, 0.5, 0.0], 3, 0.5, 0.4)
    table.on_trial_complete(0, [trial], trial)
    lines = table._console.file.getvalue().splitlines()
    assert lines == [
        "trial a1 finished: search ratio 0.50 : 0.50 : 0.00 seed 0 epoch 3/3 val 50.0% test 40.0%"
    ]
    table.close()


def add(study, ratio, value, *, full=True, state=TrialState.COMPLETE, stage="search", test=None):
    attrs = {"ratio": ratio, "stage": stage, "full_run": full, "seed": 0}
    if full and test is not None:
        attrs["test_acc"] = test
    study.add_trial(
        create_trial(
            state=state,
            value=value if state == TrialState.COMPLETE else None,
            params={"u": 0.5},
            distributions={"u": FloatDistribution(0, 1)},
            user_attrs=attrs,
        )
    )


def test_summary_prefers_a_confirmed_ratio_to_a_single_lucky_run():
    study = optuna.create_study(study_name="digits/c", direction="maximize")
    add(study, [0.2, 0.6, 0.2], 0.99, test=0.98)
    add(study, [0.2, 0.6, 0.2], 0.97, stage="confirm", test=0.99)
    add(study, [0.0, 1.0, 0.0], 0.995, test=0.97)  # best single run, never confirmed
    s = summarize(study, storage_url="u", results_dir="r", expected_search=2, wall_seconds=1.0)
    assert s.best_ratio == [0.2, 0.6, 0.2]
    assert (s.best_val_acc, s.best_test_acc, s.best_runs) == pytest.approx((0.98, 0.985, 2))


def test_summary_picks_the_best_mean_validation_ratio_among_full_runs():
    study = optuna.create_study(study_name="digits/s", direction="maximize")
    a, b, c = [0.1, 0.6, 0.3], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]
    add(study, a, 0.98, test=0.97)
    add(study, b, 0.99, test=0.985)  # best single run ...
    add(study, c, 0.995, full=False)  # ... an early-stopped trial does not count
    add(study, a, 0.99, stage="confirm", test=0.99)
    add(study, a, 1.0, stage="confirm", test=0.98)
    add(study, b, 0.96, stage="confirm", test=0.95)
    add(study, [1.0, 0.0, 0.0], None, state=TrialState.FAIL)
    s = summarize(
        study,
        storage_url="sqlite:///x.db",
        results_dir="/r/digits/s",
        expected_search=4,
        confirm=(2, 2),
        wall_seconds=61.0,
    )
    # means: a = (0.98 + 0.99 + 1.0) / 3 = 0.99, b = (0.99 + 0.96) / 2 = 0.975
    assert s.best_ratio == a
    assert s.best_val_acc == pytest.approx(0.99)
    assert s.best_test_acc == pytest.approx((0.97 + 0.99 + 0.98) / 3)
    assert s.best_runs == 3
    assert (s.n_trials, s.n_completed, s.n_stopped, s.n_failed) == (7, 5, 1, 1)
    assert s.complete is False  # 2 ratios x 2 seeds were due, 3 confirmation runs exist
    text = s.render()
    assert "INTERRUPTED" in text and "0.100 : 0.600 : 0.300" in text and "val 99.00%" in text


def test_summary_without_any_completed_trial():
    study = optuna.create_study(study_name="digits/none", direction="maximize")
    add(study, [1.0, 0.0, 0.0], None, state=TrialState.FAIL)
    s = summarize(study, storage_url="u", results_dir="r", expected_search=1, wall_seconds=1.0)
    assert (s.best_ratio, s.best_val_acc, s.n_failed, s.complete) == (None, None, 1, True)
    assert "no trial completed" in s.render()


STBP, R183, R162, R261, R100 = (
    [0.0, 1.0, 0.0], [1 / 12, 8 / 12, 3 / 12], [1 / 9, 6 / 9, 2 / 9], [2 / 9, 6 / 9, 1 / 9],
    [1.0, 0.0, 0.0],
)


def energy_study(runs) -> optuna.Study:
    """A two-objective study as ``objective: accuracy_energy`` leaves it."""
    study = optuna.create_study(study_name="digits/energy", directions=["maximize", "minimize"])
    for ratio, val, energy, full, stage in runs:
        attrs = {"ratio": ratio, "stage": stage, "full_run": full, "seed": 0}
        study.add_trial(create_trial(
            values=[val, energy], params={"u": 0.5},
            distributions={"u": FloatDistribution(0, 1)}, user_attrs=attrs,
        ))
    return study


def energy_summary(runs):
    study = energy_study(runs)
    return summarize(study, storage_url="u", results_dir="r", expected_search=len(runs),
                     wall_seconds=1.0)


def test_energy_summary_front_and_the_pure_stbp_budget():
    s = energy_summary([
        (STBP, 0.97, 1000.0, True, "search"),
        (STBP, 0.95, 1100.0, True, "confirm"),  # STBP mean: val 0.96, 1050 pJ; budget 840
        (R183, 0.955, 700.0, True, "search"),  # on the front; best within the budget
        (R162, 0.95, 750.0, True, "search"),  # dominated by 1:8:3
        (R261, 0.90, 500.0, True, "search"),  # on the front (cheapest)
        (R100, 0.50, 500.0, True, "search"),  # dominated by 2:6:1 (same energy)
        ([0.0, 0.0, 1.0], 0.99, 100.0, False, "search"),  # stopped early: never counts
    ])
    # By hand: front = runs nobody beats on both counts, cheapest first.
    front = [(p.ratio, p.val_acc, p.energy_pj_per_sample) for p in s.pareto_front]
    assert front == [(R261, 0.90, 500.0), (R183, 0.955, 700.0), (STBP, 0.97, 1000.0)]
    assert (s.stbp_baseline.val_acc, s.stbp_baseline.energy_pj_per_sample) == pytest.approx(
        (0.96, 1050.0)
    )
    assert s.best_under_budget.ratio == R183
    dumped = s.model_dump()
    assert dumped["pareto_front"][0] == {
        "ratio": R261, "val_acc": 0.90, "energy_pj_per_sample": 500.0
    }
    assert dumped["best_under_budget"]["energy_pj_per_sample"] == 700.0
    text = s.render()
    assert "pareto front 3 full runs, cheapest first" in text
    assert "0.222 : 0.667 : 0.111  val 90.00%  0.5 nJ" in text
    assert "pure STBP    0.000 : 1.000 : 0.000  val 96.00%  1.1 nJ" in text
    # 700 / 1050 = 67%; 95.5% - 96.0% = -0.50 points
    assert "under 80%    0.083 : 0.667 : 0.250  val 95.50%  0.7 nJ (67% of pure STBP's " in text
    assert "-0.50 points of accuracy" in text
    assert text.index("best ratio") < text.index("pareto front") < text.index("results")


def test_energy_summary_says_when_nothing_fits_the_budget_or_stbp_was_not_run():
    s = energy_summary([(STBP, 0.97, 1000.0, True, "search"), (R183, 0.9, 800.0, True, "search")])
    assert s.best_under_budget is None and len(s.pareto_front) == 2
    assert "none under 80% of pure STBP's energy" in s.render()  # 800 is not under 800
    s = energy_summary([(R183, 0.9, 800.0, True, "search")])
    assert s.stbp_baseline is None and s.best_under_budget is None
    assert "pure STBP    not run as a full run" in s.render()
    s = energy_summary([(STBP, 0.9, 800.0, False, "search")])
    assert s.pareto_front == [] and "pareto front none: no full run yet" in s.render()


def test_accuracy_only_summary_has_no_energy_part():
    study = optuna.create_study(study_name="digits/acc", direction="maximize")
    add(study, [0.0, 1.0, 0.0], 0.99, test=0.98)
    s = summarize(study, storage_url="u", results_dir="r", expected_search=1, wall_seconds=1.0)
    assert (s.pareto_front, s.stbp_baseline, s.best_under_budget) == (None, None, None)
    assert "pareto" not in s.render() and "STBP" not in s.render()
