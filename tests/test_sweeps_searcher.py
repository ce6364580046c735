"""``RatioSearch`` driven by hand (no Ray cluster): store attributes, confirmation stage,
and exactly-once trials when a driver dies between asking Optuna and Tune's save."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search import Searcher

from biril import Ratio
from sweeps.samplers import nsga2_population
from sweeps.searcher import RatioSearch, make_sampler
from sweeps.space import warm_start_params
from sweeps.spec import parse_spec

optuna.logging.set_verbosity(optuna.logging.WARNING)
EPOCHS = 3
STBP = [0.0, 1.0, 0.0]


def make_spec(**search):
    return parse_spec(
        {
            "name": "unit",
            "train": {"dataset": "digits", "epochs": EPOCHS, "seed": 7},
            "search": {"warm_start": ["1:8:3", "0:1:0"], "num_trials": 4, **search},
        }
    )


def new_searcher(spec, url):
    storage = optuna.storages.RDBStorage(url)
    return RatioSearch(spec, storage, "/results/digits/unit", warm_start_params(spec)[0])


def result(trial_id: str, val: float, epoch: int = EPOCHS) -> dict:
    """A flat last result as Tune hands it to the searcher."""
    r = {
        "trial_id": trial_id,
        "epoch": epoch,
        "training_iteration": epoch,
        "val_acc": val,
        "curve": [
            {
                "epoch": e,
                "val_acc": val,
                "val_loss": 0.1,
                "train_loss": 0.2,
                "train_acc": 0.9,
                "epoch_seconds": 1.0,
                "samples_per_s": 100.0,
            }
            for e in range(1, epoch + 1)
        ],
        "spike_rates/stem_sn": 0.25,
        "spike_rates/blocks.0.sn1": 0.125,
        "seconds": 12.5,
        "node_id": "node-a",
        "gpu_ids": ["1"],
        "checkpoint_dir_name": f"checkpoint_{epoch - 1:06d}",
    }
    if epoch == EPOCHS:
        r["test_acc"] = val - 0.01
    return r


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path}/biril.db"


class study:  # noqa: N801 - reads like the Optuna study it wraps
    """The study's trials that started (enqueued warm starts are not trials yet)."""

    def __init__(self, url: str) -> None:
        s = optuna.load_study(study_name="digits/unit", storage=url)
        self.trials = [t for t in s.trials if t.state != TrialState.WAITING]


def test_completed_trials_carry_the_store_attributes(url):
    searcher = new_searcher(make_spec(), url)
    config = searcher.suggest("t1")
    assert config["ratio"] == pytest.approx(list(Ratio.parse("1:8:3").fractions))
    assert (config["stage"], config["seed"]) == ("search", 7)
    searcher.on_trial_result("t1", result("t1", 0.9, epoch=1))
    searcher.on_trial_complete("t1", result("t1", 0.95))
    (t,) = study(url).trials
    assert t.state == TrialState.COMPLETE and t.value == 0.95
    a = t.user_attrs
    assert a["dataset"] == "digits" and a["sweep"] == "unit" and a["stage"] == "search"
    assert a["ratio"] == pytest.approx([1 / 12, 8 / 12, 3 / 12])
    assert (a["seed"], a["epochs_planned"], a["epochs_completed"]) == (7, EPOCHS, EPOCHS)
    assert a["full_run"] is True and a["test_acc"] == pytest.approx(0.94)
    assert a["val_acc"] == 0.95 and len(a["curve"]) == EPOCHS
    assert a["spike_rates"] == {"stem_sn": 0.25, "blocks.0.sn1": 0.125}
    assert (a["node_id"], a["gpu_ids"], a["seconds"]) == ("node-a", ["1"], 12.5)
    assert a["trial_id"] == "t1"
    assert a["trial_dir"] == "/results/digits/unit/trial_t1"
    assert a["checkpoint"] == "/results/digits/unit/trial_t1/checkpoint_000002"
    assert t.intermediate_values == {1: 0.9}


def test_early_stopped_and_failed_trials(url):
    searcher = new_searcher(make_spec(), url)
    searcher.suggest("t1")
    searcher.suggest("t2")
    searcher.on_trial_result("t1", result("t1", 0.5, epoch=1))
    searcher.on_trial_complete("t1", result("t1", 0.5, epoch=1))  # stopped by ASHA
    searcher.on_trial_result("t2", result("t2", 0.4, epoch=2))
    searcher.on_trial_complete("t2", error=True)
    stopped, failed = study(url).trials
    assert stopped.state == TrialState.COMPLETE
    assert stopped.user_attrs["full_run"] is False and "test_acc" not in stopped.user_attrs
    assert stopped.user_attrs["epochs_completed"] == 1
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["epochs_completed"] == 2 and failed.user_attrs["full_run"] is False
    assert failed.user_attrs["ratio"] == [0.0, 1.0, 0.0]


def test_confirmation_stage_reruns_the_top_ratios_and_pure_stbp_with_new_seeds(url):
    searcher = new_searcher(make_spec(confirm={"top_k": 2, "seeds": 2}), url)
    vals = {"t1": 0.9, "t2": 0.8, "t3": 0.95, "t4": 0.7}
    configs = {tid: searcher.suggest(tid) for tid in vals}
    assert configs["t2"]["ratio"] == STBP  # the warm start 0:1:0, run to the end below
    # Pure STBP's extra seeds are certain from the start; the top ratios wait for results.
    early = [searcher.suggest(f"s{i}") for i in range(2)]
    assert [(c["ratio"], c["seed"], c["role"]) for c in early] == [
        (STBP, 8, "stbp_baseline"),
        (STBP, 9, "stbp_baseline"),
    ]
    assert searcher.suggest("wait") is None
    for tid, v in vals.items():
        searcher.on_trial_complete(tid, result(tid, v))
    confirms = [searcher.suggest(f"c{i}") for i in range(4)]
    assert searcher.suggest("done") == Searcher.FINISHED
    assert {(c["stage"], c["role"]) for c in confirms} == {("confirm", "confirm")}
    best = [configs["t3"]["ratio"], configs["t1"]["ratio"]]
    assert [c["ratio"] for c in confirms] == [best[0], best[0], best[1], best[1]]
    assert [c["seed"] for c in confirms] == [8, 9, 8, 9]
    roles = [t.user_attrs["role"] for t in study(url).trials]
    assert roles == ["search"] * 4 + ["stbp_baseline"] * 2 + ["confirm"] * 4


def test_pure_stbp_stopped_early_in_the_search_reruns_on_the_search_seed_too(url):
    searcher = new_searcher(make_spec(confirm={"top_k": 1, "seeds": 1}), url)
    for tid in ("t1", "t2", "t3", "t4"):
        searcher.suggest(tid)
    searcher.on_trial_complete("t2", result("t2", 0.5, epoch=1))  # STBP, stopped by ASHA
    for tid, v in {"t1": 0.9, "t3": 0.8, "t4": 0.7}.items():
        searcher.on_trial_complete(tid, result(tid, v))
    runs = [searcher.suggest(f"c{i}") for i in range(3)]
    assert searcher.suggest("done") == Searcher.FINISHED
    assert [(c["seed"], c["role"]) for c in runs] == [
        (8, "confirm"),
        (7, "stbp_baseline"),
        (8, "stbp_baseline"),
    ]
    assert runs[0]["ratio"] == pytest.approx(list(Ratio.parse("1:8:3").fractions))
    assert runs[1]["ratio"] == runs[2]["ratio"] == STBP


def test_a_top_ratio_that_is_pure_stbp_runs_each_seed_once(url):
    searcher = new_searcher(make_spec(confirm={"top_k": 1, "seeds": 2}), url)
    for tid, v in {"t1": 0.9, "t2": 0.99, "t3": 0.8, "t4": 0.7}.items():
        searcher.suggest(tid)
        searcher.on_trial_complete(tid, result(tid, v))
    runs = [searcher.suggest(f"c{i}") for i in range(2)]
    assert searcher.suggest("done") == Searcher.FINISHED
    assert [(c["ratio"], c["seed"]) for c in runs] == [(STBP, 8), (STBP, 9)]


def test_pure_stbp_outside_the_searched_bounds_still_runs_with_the_same_seeds(url):
    spec = make_spec(
        confirm={"top_k": 1, "seeds": 1},
        warm_start=["1:8:3"],
        bounds={"stdp": {"min": 0.05}},
    )
    searcher = new_searcher(spec, url)
    for tid, v in {"t1": 0.9, "t2": 0.8, "t3": 0.7, "t4": 0.6}.items():
        assert searcher.suggest(tid)["ratio"][0] >= 0.05
        searcher.on_trial_complete(tid, result(tid, v))
    runs = [searcher.suggest(f"c{i}") for i in range(3)]
    assert searcher.suggest("done") == Searcher.FINISHED
    baseline = [(c["ratio"], c["seed"]) for c in runs if c["role"] == "stbp_baseline"]
    assert baseline == [(STBP, 7), (STBP, 8)]
    stbp_trials = [t for t in study(url).trials if t.user_attrs["role"] == "stbp_baseline"]
    assert [t.params for t in stbp_trials] == [{}, {}]  # a fixed ratio: nothing suggested


def test_a_resumed_driver_adopts_trials_asked_after_the_last_save(url, tmp_path):
    """The driver asks Optuna for a trial, dies before Tune saves; the resumed searcher
    (restored from the save) runs that same Optuna trial instead of asking a new one."""
    spec = make_spec(confirm={"top_k": 1, "seeds": 1})
    first = new_searcher(spec, url)
    first.suggest("t1")
    first.suggest("t2")
    first.on_trial_complete("t1", result("t1", 0.9))
    saved = tmp_path / "searcher.pkl"
    first.save(str(saved))
    first.suggest("t3")  # asked, never saved: the driver dies here
    first.on_trial_complete("t2", result("t2", 0.6))  # told after the save, then it dies

    resumed = RatioSearch.__new__(RatioSearch)
    resumed.restore(str(saved))
    # Tune resumes t2 from its last checkpoint; it reports and completes again
    resumed.on_trial_result("t2", result("t2", 0.6))
    resumed.on_trial_complete("t2", result("t2", 0.6))
    for tid in ("r3", "r4"):
        resumed.suggest(tid)
        resumed.on_trial_complete(tid, result(tid, 0.7))
    for tid in ("c1", "c2"):  # the top ratio, then pure STBP, on seed 8
        resumed.suggest(tid)
        resumed.on_trial_complete(tid, result(tid, 0.85))
    assert resumed.suggest("done") == Searcher.FINISHED

    trials = study(url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    roles = [t.user_attrs["role"] for t in trials]
    assert roles == ["search"] * 4 + ["confirm", "stbp_baseline"]
    assert trials[2].user_attrs["trial_id"] == "r3"  # the orphan, adopted
    assert trials[1].value == 0.6  # told once
    keys = {(tuple(t.user_attrs["ratio"]), t.user_attrs["seed"]) for t in trials}
    assert len(keys) == 6


@pytest.mark.parametrize("sampler", ["tpe", "gp", "cmaes", "random", "qmc", "nsga2"])
def test_every_sampler_is_seeded_and_reproducible(sampler):
    def draws():
        spec = make_spec(sampler=sampler, warm_start=[], num_trials=6)
        study = optuna.create_study(direction="maximize", sampler=make_sampler(spec.search))
        out = []
        for i in range(6):
            trial = study.ask()
            out.append(tuple(trial.suggest_float(f"u_{k}", 1e-12, 1.0) for k in "abc"))
            study.tell(trial, float(i % 3))
        return out

    assert draws() == draws()


def test_nsga2_population_is_a_third_of_the_sampled_trials_within_4_to_50():
    expected = {1: 4, 8: 4, 12: 4, 20: 6, 30: 10, 150: 50, 1000: 50}
    assert {n: nsga2_population(n) for n in expected} == expected
    # 32 trials, 2 of them warm starts: NSGA-II samples 30
    sampler = make_sampler(make_spec(sampler="nsga2", num_trials=32).search)
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)
    assert sampler.population_size == 10


def test_nsga2_evolves_a_single_objective_accuracy_sweep(url):
    """NSGA-II on ``objective: accuracy``: with one objective the non-domination rank is the
    value's rank, so the parents of generation 2 are the 4 most accurate trials of
    generations 0 and 1 (population max(4, 10 // 3) = 4). The 2 warm starts are in none."""
    searcher = new_searcher(make_spec(sampler="nsga2", num_trials=12), url)
    for i in range(12):
        tid = f"t{i}"
        config = searcher.suggest(tid)
        searcher.on_trial_complete(tid, result(tid, config["ratio"][1]))  # val = STBP share
    s = searcher.study
    trials = s.get_trials(states=[TrialState.COMPLETE])
    assert len(trials) == 12 and len(s.directions) == 1
    generations = [t.system_attrs.get("NSGAIISampler:generation") for t in trials]
    assert generations == [None] * 2 + [0] * 4 + [1] * 4 + [2] * 2
    top4 = sorted(trials[2:10], key=lambda t: t.value, reverse=True)[:4]
    parents = s.sampler.get_parent_population(s, 2)
    assert {t.number for t in parents} == {t.number for t in top4}


def test_confirmation_of_a_ratio_certain_to_be_in_the_top_k_starts_before_the_search_ends(url):
    searcher = new_searcher(make_spec(confirm={"top_k": 2, "seeds": 2}), url)
    configs = {tid: searcher.suggest(tid) for tid in ("t1", "t2", "t3", "t4")}
    for tid, v in {"t1": 0.9, "t2": 0.8, "t3": 0.95}.items():
        searcher.on_trial_complete(tid, result(tid, v))
    # t4 still runs: it can push out one of the top 2, never both, so t3's ratio is
    # certain and its two seeds run now, with pure STBP's; t1's waits.
    early = [searcher.suggest(f"c{i}") for i in range(4)]
    r3, r4 = configs["t3"]["ratio"], configs["t4"]["ratio"]
    assert [(c["ratio"], c["seed"]) for c in early] == [(r3, 8), (r3, 9), (STBP, 8), (STBP, 9)]
    assert searcher.suggest("wait") is None
    searcher.on_trial_complete("t4", result("t4", 0.97))  # t4 beats t3: t1 is out
    late = [searcher.suggest(f"d{i}") for i in range(2)]
    assert searcher.suggest("done") == Searcher.FINISHED
    assert [(c["ratio"], c["seed"]) for c in late] == [(r4, 8), (r4, 9)]


def test_with_as_many_search_trials_running_as_top_k_nothing_is_certain(url):
    searcher = new_searcher(make_spec(confirm={"top_k": 1, "seeds": 1}), url)
    for tid in ("t1", "t2", "t3", "t4"):
        searcher.suggest(tid)
    for tid, v in {"t1": 0.9, "t2": 0.8, "t3": 0.99}.items():
        searcher.on_trial_complete(tid, result(tid, v))
    assert searcher.suggest("stbp")["role"] == "stbp_baseline"  # certain from the start
    assert searcher.suggest("wait") is None  # t4 may still beat 0.99
    searcher.on_trial_complete("t4", result("t4", 0.5))
    (confirm,) = [searcher.suggest("c")]
    assert confirm["stage"] == "confirm" and confirm["seed"] == 8


def test_controls_run_the_confirmed_ratio_frozen_on_its_seeds(url):
    """Each confirmed ratio's twin with stdp_lr 0, on the search seed and the extra seeds:
    the same seeds its STDP runs have, so the two pair by seed."""
    searcher = new_searcher(make_spec(confirm={"top_k": 1, "seeds": 2, "controls": True}), url)
    configs = {tid: searcher.suggest(tid) for tid in ("t1", "t2", "t3", "t4")}
    for tid, v in {"t1": 0.9, "t2": 0.8, "t3": 0.95, "t4": 0.7}.items():
        searcher.on_trial_complete(tid, result(tid, v))
    runs = [searcher.suggest(f"c{i}") for i in range(7)]
    assert searcher.suggest("done") == Searcher.FINISHED
    top = configs["t3"]["ratio"]
    assert [(c["role"], c["ratio"], c["seed"], c["overrides"]) for c in runs] == [
        ("confirm", top, 8, {}),
        ("confirm", top, 9, {}),
        ("stdp_control", top, 7, {"stdp_lr": 0}),
        ("stdp_control", top, 8, {"stdp_lr": 0}),
        ("stdp_control", top, 9, {"stdp_lr": 0}),
        ("stbp_baseline", STBP, 8, {}),
        ("stbp_baseline", STBP, 9, {}),
    ]
    trials = study(url).trials
    controls = [t for t in trials if t.user_attrs["role"] == "stdp_control"]
    assert [t.user_attrs["overrides"] for t in controls] == [{"stdp_lr": 0}] * 3
    source = next(t for t in trials if t.user_attrs.get("trial_id") == "t3")
    assert all(t.params == source.params for t in controls)  # the confirmed trial's own


def test_pure_stbp_as_the_confirmed_ratio_has_no_frozen_twin(url):
    searcher = new_searcher(make_spec(confirm={"top_k": 1, "seeds": 2, "controls": True}), url)
    for tid, v in {"t1": 0.9, "t2": 0.99, "t3": 0.8, "t4": 0.7}.items():
        searcher.suggest(tid)  # t2 is the warm start 0:1:0
        searcher.on_trial_complete(tid, result(tid, v))
    runs = [searcher.suggest(f"c{i}") for i in range(2)]
    assert searcher.suggest("done") == Searcher.FINISHED
    assert [(c["ratio"], c["seed"], c["role"]) for c in runs] == [
        (STBP, 8, "confirm"),
        (STBP, 9, "confirm"),
    ]


ETA = {"stdp_lr": {"low": 1e-3, "high": 1e-1, "log": True}}


@pytest.mark.parametrize(
    ("space", "sampler"),
    [("simplex", "tpe"), ("lattice", "tpe"), ("simplex", "nsga2"), ("lattice", "nsga2")],
)
def test_searched_params_vary_within_bounds_and_confirmations_reuse_them(url, space, sampler):
    spec = make_spec(
        space=space, sampler=sampler, num_trials=10, params=ETA,
        confirm={"top_k": 1, "seeds": 1, "controls": True},
    )
    searcher = new_searcher(spec, url)
    for i in range(10):
        config = searcher.suggest(f"t{i}")
        # accuracy peaks at stdp_lr 1e-2: the sampler has something to learn
        peak = abs(math.log10(config["params"]["stdp_lr"]) + 2)
        searcher.on_trial_complete(f"t{i}", result(f"t{i}", 0.9 - peak / 10))
    search = study(url).trials
    etas = [t.user_attrs["params"]["stdp_lr"] for t in search]
    assert all(1e-3 <= eta <= 1e-1 for eta in etas)
    # TPE draws a new value every time; NSGA-II's crossover copies its parents' values,
    # but its first generation (4, the warm starts among them: their stdp_lr is sampled)
    # is drawn independently.
    assert len(set(etas)) >= (10 if sampler == "tpe" else 4)
    assert all(t.params["stdp_lr"] == t.user_attrs["params"]["stdp_lr"] for t in search)
    confirms = []
    while (c := searcher.suggest(f"c{len(confirms)}")) not in (None, Searcher.FINISHED):
        confirms.append(c)
    best = max(search, key=lambda t: t.value)
    eta = best.user_attrs["params"]["stdp_lr"]
    by_role = {}
    for c in confirms:
        by_role.setdefault(c["role"], []).append((c["params"], c["overrides"]))
    assert by_role["confirm"] == [({"stdp_lr": eta}, {})]
    assert by_role["stdp_control"] == [({"stdp_lr": eta}, {"stdp_lr": 0})] * 2
    # Pure STBP's baseline runs at the spec's own settings, on the search seed too: the
    # searched 0:1:0 ran at a searched stdp_lr, another config.
    assert sorted(c["seed"] for c in confirms if c["role"] == "stbp_baseline") == [7, 8]
    assert all(c["params"] == {} for c in confirms if c["role"] == "stbp_baseline")
