"""What the user sees: the live trial table and the end summary (from a real study)."""

from __future__ import annotations

import io
import math
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console
from scipy import stats

from sweeps.confirm import Confirmation
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


def add(study, ratio, value, *, full=True, state=TrialState.COMPLETE, stage="search", test=None,
        seed=0, val_size=None):
    attrs = {"ratio": ratio, "stage": stage, "full_run": full, "seed": seed}
    if full and test is not None:
        attrs["test_acc"] = test
    if val_size is not None:
        attrs["val_size"] = val_size
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
    # The digits sweep: 144 validation images, one image = 0.69 points. 3:8:1 was
    # confirmed on 3 seeds, pure STBP ran the same 3 seeds, 0:0:1 ran once and got lucky.
    study = optuna.create_study(study_name="digits/c", direction="maximize")
    confirmed, stbp, lucky = [3 / 12, 8 / 12, 1 / 12], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
    a, b = [142 / 144, 141 / 144, 143 / 144], [141 / 144, 140 / 144, 142 / 144]
    for seed, (va, vb) in enumerate(zip(a, b, strict=True)):
        stage = "search" if seed == 0 else "confirm"
        add(study, confirmed, va, seed=seed, stage=stage, test=0.98, val_size=144)
        add(study, stbp, vb, seed=seed, stage=stage, test=0.97, val_size=144)
    add(study, lucky, 143 / 144, test=0.99, val_size=144)
    s = summarize(study, storage_url="u", results_dir="r", expected_search=3, wall_seconds=1.0)

    # By hand: the pooled seed SD (1/144, 4 df) is below the validation set's binomial
    # error at the best mean (0:0:1's 143/144, one image towards 1/2 each way), which wins.
    p = (143 + 1) / (144 + 2)
    sd = max(math.sqrt((np.var(a, ddof=1) * 2 + np.var(b, ddof=1) * 2) / 4),
             math.sqrt(p * (1 - p) / 144))
    t = stats.t.ppf(0.975, df=4)
    best = s.best
    assert (best.ratio_int, best.n_seeds, best.seeds, best.val_size) == ("3:8:1", 3, [0, 1, 2], 144)
    assert best.val_acc == pytest.approx(np.mean(a))
    # The interval is cut at 1 (an accuracy cannot exceed it); its lower end is the t-one.
    assert best.ci == pytest.approx((np.mean(a) - t * sd / math.sqrt(3),
                                     min(1.0, np.mean(a) + t * sd / math.sqrt(3))))
    # 0:0:1's lower bound, 143/144 - t·sd, is below 3:8:1's: the lucky run does not win ...
    assert 143 / 144 - t * sd < best.ci[0]
    # ... and cannot be told apart from it (one seed: unpaired, on the sweep's SD), nor can
    # pure STBP: on the same three seeds, paired, 3:8:1 is one image ahead on each; seeds
    # that agree to the image leave an SD of one image (1/144), so t = √3 on 2 df.
    lucky_p = 2 * stats.t.sf((143 / 144 - np.mean(a)) / (sd * math.sqrt(1 + 1 / 3)), df=4)
    stbp_p = 2 * stats.t.sf(math.sqrt(3), df=2)
    low, high = sorted([lucky_p, stbp_p])  # Holm over the two: the smaller times two
    holm = {low: 2 * low, high: max(2 * low, high)}
    peers = {peer.ratio_int: peer for peer in best.indistinguishable}
    assert peers.keys() == {"0:0:1", "0:1:0"}
    assert peers["0:0:1"].p == pytest.approx(holm[lucky_p]) and not peers["0:0:1"].paired
    assert peers["0:1:0"].p == pytest.approx(holm[stbp_p]) and peers["0:1:0"].paired
    half = stats.t.ppf(0.975, df=2) * (1 / 144) / math.sqrt(3)
    assert best.vs_stbp.paired and best.vs_stbp.n_pairs == 3
    assert best.vs_stbp.diff == pytest.approx(1 / 144)
    assert best.vs_stbp.ci == pytest.approx((1 / 144 - half, 1 / 144 + half))
    assert best.vs_stbp.p_unadjusted == pytest.approx(stbp_p)
    assert best.vs_stbp.p == pytest.approx(holm[stbp_p])
    assert best.verdict.startswith("nothing is distinguishable from pure STBP 0:1:0 at 95%")
    text = s.render()
    assert "best ratio   3:8:1" in text and "over 3 seeds, 144 validation images" in text
    assert "tied with    0:0:1 (p " in text and "vs STBP      nothing is distinguishable" in text


def test_summary_picks_by_the_rule_among_full_runs_and_counts_the_confirmation_stage():
    study = optuna.create_study(study_name="digits/s", direction="maximize")
    a, b, c = [0.1, 0.6, 0.3], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]
    add(study, a, 0.98, test=0.97)
    add(study, b, 0.99, test=0.985)  # best single run ...
    add(study, c, 0.995, full=False)  # ... an early-stopped trial does not count
    add(study, a, 0.99, stage="confirm", test=0.99, seed=1)
    add(study, a, 1.0, stage="confirm", test=0.98, seed=2)
    add(study, b, 0.96, stage="confirm", test=0.95, seed=1)
    add(study, [1.0, 0.0, 0.0], None, state=TrialState.FAIL)
    s = summarize(
        study,
        storage_url="sqlite:///x.db",
        results_dir="/r/digits/s",
        expected_search=4,
        confirmation=Confirmation(top_k=2, seeds=(1, 2), search_seed=0),
        wall_seconds=61.0,
    )
    # means: a = (0.98 + 0.99 + 1.0) / 3 = 0.99 on 3 seeds, b = (0.99 + 0.96) / 2 = 0.975
    assert list(s.best.ratio) == a
    assert s.best.val_acc == pytest.approx(0.99)
    assert s.best.test_acc == pytest.approx((0.97 + 0.99 + 0.98) / 3)
    assert s.best.n_seeds == 3
    assert (s.n_trials, s.n_completed, s.n_stopped, s.n_failed) == (7, 5, 1, 1)
    assert s.complete is False  # pure STBP (b, a top ratio too) still lacks seed 2
    text = s.render()
    assert "INTERRUPTED" in text and "0.100 : 0.600 : 0.300" in text and "val 99.00%" in text


def test_summary_without_any_completed_trial():
    study = optuna.create_study(study_name="digits/none", direction="maximize")
    add(study, [1.0, 0.0, 0.0], None, state=TrialState.FAIL)
    s = summarize(study, storage_url="u", results_dir="r", expected_search=1, wall_seconds=1.0)
    assert (s.best, s.n_failed, s.complete) == (None, 1, True)
    assert "no trial ran to the end" in s.render()


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
    s = energy_summary([(STBP, 0.97, 1000.0, True, "search"), (R183, 0.9, 800.5, True, "search")])
    assert s.best_under_budget is None and len(s.pareto_front) == 2
    assert "none within 80% of pure STBP's energy" in s.render()  # 800.5 > 0.8 × 1000
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
    text = s.render()
    assert "pareto" not in text and "pure STBP    " not in text and "under 80%" not in text
