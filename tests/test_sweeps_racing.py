"""The race: losers leave on a paired test pooled over the race, rounds decided on results.

And the search benchmark on a landscape whose answer is known. No Ray starts here.
"""

from __future__ import annotations

import math

import optuna
import pytest
from scipy import stats

from results.ratios import ratio_key
from sweeps.bench_search import FakeTrainer, Landscape, fixed, run_search
from sweeps.racing import race, survivors
from sweeps.spec import SweepSpec, load_spec

LEADER = {0: 0.98, 1: 0.97, 2: 0.99}
FAR = {0: 0.95, 1: 0.94, 2: 0.955}  # 3 points below on every seed
NEAR = {0: 0.975, 1: 0.972, 2: 0.985}  # within the noise


def test_a_ratio_clearly_below_the_leader_leaves_and_a_close_one_stays():
    scores = {"L": LEADER, "far": FAR, "near": NEAR}
    assert survivors(scores, ["far", "near", "L"], floor=0.0) == ["L", "near"]
    # By hand: differences to the leader, their SD pooled over both ratios (4 df).
    d_far = [LEADER[s] - FAR[s] for s in range(3)]
    d_near = [LEADER[s] - NEAR[s] for s in range(3)]
    squares = sum((d - sum(ds) / 3) ** 2 for ds in (d_far, d_near) for d in ds)
    sd = math.sqrt(squares / 4)
    p_far = 2 * stats.t.sf((sum(d_far) / 3) / (sd / math.sqrt(3)), df=4)
    p_near = 2 * stats.t.sf((sum(d_near) / 3) / (sd / math.sqrt(3)), df=4)
    assert 2 * p_far < 0.05 <= p_near  # Holm: the smaller p times two, the larger alone
    # One seed each: no spread of differences yet, so nobody leaves.
    one = {k: {0: v[0]} for k, v in scores.items()}
    assert sorted(survivors(one, list(one), floor=0.0)) == ["L", "far", "near"]


def test_the_race_gives_seeds_in_rounds_within_budget_and_waits_for_each_round():
    scores = {"L": {0: 0.98}, "far": {0: 0.95}, "near": {0: 0.975}}
    truth = {"L": LEADER, "far": FAR, "near": NEAR}
    finished: set = set()
    rounds = []
    while (state := race(["L", "near", "far"], scores, [1, 2, 3], 5, 0.0, finished)).round_runs:
        rounds.append(sorted(state.round_runs))
        # Half a round done: the next call still asks for the same round.
        key, seed = state.round_runs[0]
        scores[key][seed] = truth[key][seed]
        finished.add((key, seed))
        assert race(["L", "near", "far"], scores, [1, 2, 3], 5, 0.0,
                    finished).round_runs == state.round_runs
        for key, seed in state.round_runs:
            scores[key][seed] = truth[key][seed]
            finished.add((key, seed))
    # Round 1: every ratio on seed 1; then far is 3 points below on both seeds and
    # leaves; round 2: the two left on seed 2, and the budget of 5 runs is spent.
    assert rounds == [[("L", 1), ("far", 1), ("near", 1)], [("L", 2), ("near", 2)]]
    assert state.spent == 5 and state.survivors[0] == "L"


def test_with_no_noise_the_benchmark_names_the_true_optimum():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_spec("digits").to_store()
    data["search"]["confirm"] = {"top_k": 2, "seeds": 1, "controls": False}
    spec = SweepSpec.model_validate(data)
    # The optimum at a warm-start ratio, no seed noise, 10 000 images: the answer is exact.
    optimum = (1 / 12, 8 / 12, 3 / 12)
    land = Landscape(optimum, noise=0.0, val_size=10_000)
    trainer = FakeTrainer(land, rep=0)
    searched = run_search(spec, trainer)
    outcome = fixed(spec, searched, trainer)
    assert outcome.regret == pytest.approx(0.0, abs=1e-12)
    assert outcome.confirm_runs == 2
    # Every search trial's epochs are counted: 12 trials, some cut at epoch 3 of 8.
    tried = searched.study.get_trials(deepcopy=False)
    assert len(tried) == 12
    cut = [t for t in tried if not t.user_attrs["full_run"]]
    assert searched.trial_epochs == 8 * (12 - len(cut)) + 3 * len(cut)
    assert ratio_key(tried[3].user_attrs["ratio"]) == ratio_key(optimum)  # the 4th warm start


def frozen(ratio, seed, value, stage="search", role="search", state=None, number=0):
    state = state or optuna.trial.TrialState.COMPLETE
    attrs = {"ratio": list(ratio), "seed": seed, "stage": stage, "role": role,
             "full_run": True, "val_size": 1000}
    t = optuna.trial.create_trial(state=state, value=value, user_attrs=attrs)
    t.number = number
    return t


def test_a_racing_sweep_plans_round_by_round_from_the_study():
    from sweeps.confirm import Confirmation

    data = load_spec("digits").to_store()
    data["search"]["confirm"] = {"top_k": 3, "seeds": 3, "scheme": "racing", "budget": 5,
                                 "controls": True}
    spec = SweepSpec.model_validate(data)
    plan = Confirmation.of(spec)
    a, b, c, stbp = (1 / 12, 8 / 12, 3 / 12), (1 / 9, 6 / 9, 2 / 9), (0.0, 0.0, 1.0), (0, 1, 0)
    search = [frozen(a, 0, 0.98, number=0), frozen(b, 0, 0.975, number=1),
              frozen(c, 0, 0.95, number=2), frozen(stbp, 0, 0.90, number=3)]
    # A search trial still running: nothing is certain yet.
    assert plan.plan(search, pending=1) == []
    first = plan.plan(search)
    confirms = [(r.role, ratio_key(r.ratio), r.seed) for r in first]
    # Round 1: the top three on seed 1; pure STBP on seed 1 (it ran the search seed).
    assert confirms == [("confirm", ratio_key(a), 1), ("confirm", ratio_key(b), 1),
                        ("confirm", ratio_key(c), 1), ("stbp_baseline", ratio_key(stbp), 1)]
    done = [frozen(a, 1, 0.97, "confirm", "confirm"), frozen(b, 1, 0.972, "confirm", "confirm")]
    assert [r.seed for r in plan.plan(search, 0, done) if r.role == "confirm"] == [1, 1, 1]
    done.append(frozen(c, 1, 0.94, "confirm", "confirm"))
    # Round 2: 0:0:1 is 3–4 points below on both seeds and leaves; two runs of the five left.
    second = plan.plan(search, 0, done)
    assert [(ratio_key(r.ratio), r.seed) for r in second if r.role == "confirm"] == [
        (ratio_key(a), 2), (ratio_key(b), 2)]
    done += [frozen(a, 2, 0.99, "confirm", "confirm"), frozen(b, 2, 0.985, "confirm", "confirm")]
    # The budget spent: the race is over; the winner's frozen twin runs on its seeds.
    over = plan.plan(search, 0, done)
    assert not [r for r in over if r.role == "confirm"]
    assert [(ratio_key(r.ratio), r.seed) for r in over if r.role == "stdp_control"] == [
        (ratio_key(a), 0), (ratio_key(a), 1), (ratio_key(a), 2)]
    assert sorted(r.seed for r in over if r.role == "stbp_baseline") == [1, 2]


def test_bench_search_runs_alone():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "birilcli", "bench", "--only", "search",
                        "--only", "step"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: --only search runs alone")
    assert len(r.stderr.strip().splitlines()) == 1
