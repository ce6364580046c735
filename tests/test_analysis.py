"""analysis: store reading, seed statistics, best ratio, surface, CLI, on synthetic stores.

The synthetic stores are written with Optuna's own API exactly as the results-store
contract says `biril sweep` writes them (one study per sweep named ``<dataset>/<sweep>``,
every trial carrying the contract's user attrs), so the tests exercise the real read path.
The helpers here are imported by the PostgreSQL and browser tests too.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from scipy import stats

import analysis
from analysis.ratios import fractions, simplex_distance
from analysis.stats import summarize_ratios
from birilcli.main import cli
from results.ratios import RatioError, closest_int_ratio

optuna.logging.set_verbosity(optuna.logging.WARNING)
U_PARAMS = ("u_stdp", "u_stbp", "u_stdp_stbp")
# A searched stdp_lr, as a spec's search.params: {stdp_lr: {low: 1e-3, high: 1e-1, log: true}}
ETA_DISTRIBUTION = optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)


@dataclass
class Run:
    """One synthetic trial: a ratio (weights), its outcome, and how it ended."""

    ratio: tuple[float, float, float]
    val: float | None
    seed: int = 0
    test: float | None = None
    stage: str = "search"
    full: bool = True
    state: str = "COMPLETE"
    epochs: int = 4
    val_size: int | None = None
    role: str | None = None
    params: dict | None = None
    overrides: dict | None = None
    # Per-layer STDP diagnostics of each epoch of its curve.
    stdp: list[dict] | None = None
    # The linear probe's accuracy per pooling ({"gap": ..., "pool4": ...}).
    probe: dict | None = None


def write_sweep(url: str, dataset: str, sweep: str, runs: list[Run], root: str = "/r") -> None:
    """A study as `biril sweep` leaves it: study attrs, params, and every trial attr."""
    study = optuna.create_study(
        storage=url, study_name=f"{dataset}/{sweep}", direction="maximize"
    )
    study.set_user_attr("dataset", dataset)
    study.set_user_attr("sweep", sweep)
    study.set_user_attr("spec", {"dataset": dataset, "name": sweep})
    study.set_user_attr("results_dir", f"{root}/{dataset}/{sweep}")
    distribution = optuna.distributions.FloatDistribution(1e-12, 1.0)
    for index, run in enumerate(runs):
        fracs = [float(f) for f in fractions(run.ratio)]
        done = run.epochs if run.full else max(1, run.epochs // 2)
        state = optuna.trial.TrialState[run.state]
        trial_id = f"{sweep}_{index:05d}"
        attrs = {
            "dataset": dataset, "sweep": sweep, "stage": run.stage, "ratio": fracs,
            "seed": run.seed, "epochs_planned": run.epochs, "epochs_completed": done,
            "full_run": run.full and state == optuna.trial.TrialState.COMPLETE,
            "curve": _curve(run.val, done, run.stdp), "spike_rates": {"stem": 0.1, "block1": 0.05},
            "seconds": 10.0 + index, "node_id": "node0", "gpu_ids": [], "trial_id": trial_id,
            "trial_dir": f"{root}/{dataset}/{sweep}/{trial_id}",
            "checkpoint": f"{root}/{dataset}/{sweep}/{trial_id}/checkpoint.pt",
        }
        if run.val is not None:
            attrs["val_acc"] = run.val
        if run.val_size is not None:
            attrs["val_size"] = run.val_size
        if run.test is not None:
            attrs["test_acc"] = run.test
        for key in ("role", "params", "overrides"):
            if getattr(run, key) is not None:
                attrs[key] = getattr(run, key)
        attrs.update({f"probe_{pool}": acc for pool, acc in (run.probe or {}).items()})
        searched = run.params or {}
        study.add_trial(optuna.trial.create_trial(
            params={**{name: math.exp(-f) for name, f in zip(U_PARAMS, fracs, strict=True)},
                    **searched},
            distributions={**dict.fromkeys(U_PARAMS, distribution),
                           **dict.fromkeys(searched, ETA_DISTRIBUTION)},
            value=run.val if state == optuna.trial.TrialState.COMPLETE else None,
            user_attrs=attrs, state=state,
        ))


def _curve(final: float | None, epochs: int, stdp: list[dict] | None = None) -> list[dict]:
    """Per-epoch metrics rising to ``final`` (the contract's curve entries)."""
    end = 0.5 if final is None else final
    return [
        {"epoch": e, "val_acc": end * e / epochs, "val_loss": 1.0 / e, "train_loss": 1.2 / e,
         "train_acc": end * e / epochs, "epoch_seconds": 2.0, "samples_per_s": 500.0,
         **({"stdp": stdp[e - 1]} if stdp else {})}
        for e in range(1, epochs + 1)
    ]


def peaked_accuracy(fracs: np.ndarray, peak) -> np.ndarray:
    """A known accuracy landscape: a Gaussian bump (width 0.2) of 0.15 above 0.75 at ``peak``."""
    sq = ((np.atleast_2d(fracs) - np.asarray(peak)) ** 2).sum(axis=1)
    return 0.75 + 0.15 * np.exp(-sq / (2 * 0.2**2))


def peaked_runs(peak, n_ratios: int, seeds: int, noise: float, rng) -> list[Run]:
    """Full runs at random ratios scoring ``peaked_accuracy`` plus seed noise."""
    runs = []
    for ratio in rng.dirichlet([1.0, 1.0, 1.0], size=n_ratios):
        truth = float(peaked_accuracy(ratio, peak)[0])
        for seed in range(seeds):
            val = truth + rng.normal(0, noise)
            runs.append(Run(tuple(ratio), val, seed=seed, test=val - 0.01))
    return runs


def sqlite_root(tmp_path) -> tuple[str, str]:
    """A results root folder and the SQLite URL of its biril.db."""
    root = tmp_path / "results"
    root.mkdir()
    return str(root), f"sqlite:///{root / 'biril.db'}"


# The store of the seed-statistics tests. Ratio A has the best mean over seeds (0.935);
# E's run mean is higher (0.94) only if its repeated seed 0 were counted twice; B's
# early-stopped 0.99 and D's failed trial must be ignored. No val_size is recorded, so the
# rule's SD is the within-ratio SD pooled over A and E alone.
A, B, D, E = (1, 8, 3), (1, 6, 2), (2, 6, 1), (1, 4, 1)
A_VALS, A_TESTS = [0.92, 0.935, 0.95], [0.91, 0.92, 0.94]
STATS_RUNS = [
    *(Run(A, v, seed=s, test=t, stage="search" if s == 0 else "confirm")
      for s, (v, t) in enumerate(zip(A_VALS, A_TESTS, strict=True))),
    Run(B, 0.99, seed=0, full=False),
    Run(B, 0.91, seed=1, test=0.90),
    Run(D, None, seed=0, state="FAIL"),
    Run(E, 0.95, seed=0, test=0.93),
    Run(E, 0.97, seed=0, test=0.95, stage="confirm"),
    Run(E, 0.90, seed=1, test=0.88, stage="confirm"),
]


E_SEEDS = [np.mean([0.95, 0.97]), 0.90]
# By hand: pooled variance = (2·var(A) + 1·var(E's seed means)) / 3, on 3 degrees of freedom.
POOLED_SD = math.sqrt((2 * np.var(A_VALS, ddof=1) + np.var(E_SEEDS, ddof=1)) / 3)


def pooled_interval(values: list[float]) -> tuple[float, float]:
    """The rule's 95% interval of a ratio of the stats store, from scipy."""
    scale = POOLED_SD / math.sqrt(len(values))
    return stats.t.interval(0.95, df=3, loc=np.mean(values), scale=scale)


@pytest.fixture(scope="module")
def stats_store(tmp_path_factory):
    """Written once per module (Optuna's SQLite writes take seconds); tests only read it."""
    root, url = sqlite_root(tmp_path_factory.mktemp("stats"))
    write_sweep(url, "digits", "grid", STATS_RUNS, root=root)
    write_sweep(url, "mnist", "quick", [Run(A, 0.97, full=False)], root=root)
    return root


# ---------------------------------------------------------------- ratios


def test_closest_int_ratio_finds_the_papers_ratios_and_reduces():
    assert closest_int_ratio([1 / 12, 8 / 12, 3 / 12]) == "1:8:3"
    assert closest_int_ratio([0.083, 0.668, 0.249]) == "1:8:3"
    assert closest_int_ratio([2 / 9, 6 / 9, 1 / 9]) == "2:6:1"
    assert closest_int_ratio([1 / 9, 6 / 9, 2 / 9]) == "1:6:2"
    assert closest_int_ratio([0.2, 0.6, 0.2]) == "1:3:1"  # 2:6:2 in lowest terms
    assert closest_int_ratio([0.5, 0.5, 0.0]) == "1:1:0"
    assert closest_int_ratio([0.0, 1.0, 0.0]) == "0:1:0"


def test_fractions_rejects_malformed_ratios():
    assert fractions("2:6:2").tolist() == pytest.approx([0.2, 0.6, 0.2])
    for bad in ("1:8", "a:b:c", "0:0:0", "-1:2:3"):
        with pytest.raises(RatioError):
            fractions(bad)


# ---------------------------------------------------------------- store → pandas


def test_load_trials_reads_every_contract_field(stats_store):
    trials = analysis.load_trials(stats_store, dataset="digits")
    assert len(trials) == len(STATS_RUNS)
    assert set(trials["study"]) == {"digits/grid"}
    first = trials.sort_values("trial_number").iloc[0]
    assert first["ratio_int"] == "1:8:3"
    assert [first["ratio_stdp"], first["ratio_stbp"], first["ratio_stdp_stbp"]] == pytest.approx(
        [1 / 12, 8 / 12, 3 / 12])
    assert first["val_acc"] == pytest.approx(0.92)
    assert first["test_acc"] == pytest.approx(0.91)
    assert first["seed"] == 0 and first["stage"] == "search" and bool(first["full_run"])
    assert first["epochs_completed"] == 4 and first["trial_id"] == "grid_00000"
    assert first["checkpoint"].endswith("grid_00000/checkpoint.pt")
    assert first["spike_rates"] == {"stem": 0.1, "block1": 0.05}
    assert first["seconds"] == pytest.approx(10.0)
    stopped = trials[trials["val_acc"] == 0.99].iloc[0]
    assert not stopped["full_run"] and stopped["epochs_completed"] == 2
    assert math.isnan(stopped["test_acc"])
    assert trials["state"].value_counts().to_dict() == {"COMPLETE": 8, "FAIL": 1}


def test_load_trials_accepts_folder_db_file_and_url_and_filters(stats_store):
    url = f"sqlite:///{stats_store}/biril.db"
    by_folder = analysis.load_trials(stats_store)
    by_file = analysis.load_trials(f"{stats_store}/biril.db")
    by_url = analysis.load_trials(url)
    assert len(by_folder) == len(by_file) == len(by_url) == len(STATS_RUNS) + 1
    assert set(analysis.load_trials(url, dataset="mnist")["sweep"]) == {"quick"}
    assert len(analysis.load_trials(url, dataset="digits", sweep="grid")) == len(STATS_RUNS)


def test_load_curves_is_long_per_epoch(stats_store):
    curves = analysis.load_curves(stats_store, dataset="digits", sweep="grid")
    trials = analysis.load_trials(stats_store, dataset="digits", sweep="grid")
    assert len(curves) == int(trials["epochs_completed"].sum())
    last = curves[(curves["trial_number"] == 0) & (curves["epoch"] == 4)].iloc[0]
    assert last["val_acc"] == pytest.approx(0.92)
    assert last["ratio_int"] == "1:8:3" and last["seed"] == 0


def test_trials_not_yet_reported_are_left_out(tmp_path):
    root, url = sqlite_root(tmp_path)
    write_sweep(url, "digits", "live", [Run(A, 0.9, test=0.9)], root=root)
    study = optuna.load_study(study_name="digits/live", storage=url)
    study.ask()  # a trial the searcher has just created: RUNNING, no attrs yet
    running = study.ask()  # one whose ratio is known (the sweep sets it at suggestion)
    for key, value in {"ratio": [0.2, 0.6, 0.2], "seed": 0, "stage": "search"}.items():
        running.set_user_attr(key, value)
    trials = analysis.load_trials(root)
    assert trials["state"].tolist() == ["COMPLETE", "RUNNING"]
    assert trials["full_run"].tolist() == [True, False]
    assert trials["ratio_int"].tolist() == ["1:8:3", "1:3:1"]
    assert analysis.best_ratio("digits", storage=root).n_seeds == 1


# ---------------------------------------------------------------- malformed or empty stores


def test_missing_store_names_the_path(tmp_path):
    with pytest.raises(analysis.StoreError, match="no results store at .*biril.db does not exist"):
        analysis.load_trials(tmp_path / "nowhere")


def test_non_optuna_sqlite_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "biril.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE notes (x INTEGER)")
    with pytest.raises(analysis.StoreError, match="not an Optuna results store"):
        analysis.load_trials(tmp_path)
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"notes"}


def test_garbage_file_is_not_a_database(tmp_path):
    (tmp_path / "biril.db").write_bytes(b"this is not sqlite at all, just bytes" * 100)
    with pytest.raises(analysis.StoreError, match="cannot read .* as a database"):
        analysis.load_trials(tmp_path)


def test_empty_and_foreign_stores(tmp_path):
    root, url = sqlite_root(tmp_path)
    optuna.storages.RDBStorage(url)  # an Optuna database with no study
    with pytest.raises(analysis.StoreError, match="holds no studies"):
        analysis.load_trials(root)
    optuna.create_study(storage=url, study_name="someone-elses-study")
    with pytest.raises(analysis.StoreError, match="no BIRIL sweep studies .*someone-elses-study"):
        analysis.load_trials(root)


def test_trials_missing_user_attrs_are_reported(tmp_path):
    root, url = sqlite_root(tmp_path)
    study = optuna.create_study(storage=url, study_name="digits/handmade", direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"ratio": [0, 1, 0]}))
    with pytest.raises(analysis.StoreError, match="trial 0 lacks the BIRIL user attrs seed, stage"):
        analysis.load_trials(root)


def test_unknown_dataset_and_object_store_root(stats_store):
    with pytest.raises(analysis.StoreError, match="no sweep of dataset 'cifar10'.*digits, mnist"):
        analysis.load_trials(stats_store, dataset="cifar10")
    with pytest.raises(analysis.StoreError, match="no sweep named 'nope'.*sweeps: grid"):
        analysis.load_trials(stats_store, dataset="digits", sweep="nope")
    with pytest.raises(analysis.StoreError, match="object-store results root.*--db"):
        analysis.load_trials("s3://bucket/results")


# ---------------------------------------------------------------- seed statistics, best ratio


def test_best_ratio_pools_seeds_and_ignores_stopped_and_failed_trials(stats_store):
    best = analysis.best_ratio("digits", storage=stats_store)
    assert best.ratio_int == "1:8:3"
    assert best.ratio == pytest.approx((1 / 12, 8 / 12, 3 / 12))
    assert best.n_seeds == 3 and best.seeds == [0, 1, 2]
    assert best.val_acc == pytest.approx(np.mean(A_VALS))
    assert best.test_acc == pytest.approx(np.mean(A_TESTS))
    assert best.ci == pytest.approx(pooled_interval(A_VALS))
    assert best.trial_id == "grid_00002"  # A's best single run (0.95)
    assert best.checkpoint.endswith("grid_00002/checkpoint.pt")
    assert (best.sweep, best.study) == ("grid", "digits/grid")


def test_repeated_seed_counts_once(stats_store):
    summary = summarize_ratios(analysis.load_trials(stats_store, dataset="digits"))
    e = summary[summary["ratio_int"] == "1:4:1"].iloc[0]
    assert e["n_seeds"] == 2
    assert e["val_acc"] == pytest.approx(np.mean(E_SEEDS))
    assert (e["val_ci_low"], e["val_ci_high"]) == pytest.approx(pooled_interval(E_SEEDS))
    b = summary[summary["ratio_int"] == "1:6:2"].iloc[0]
    assert b["n_seeds"] == 1 and b["val_acc"] == pytest.approx(0.91)
    # One seed: the interval is as wide as the sweep's seed-to-seed spread allows.
    assert (b["val_ci_low"], b["val_ci_high"]) == pytest.approx(pooled_interval([0.91]))
    assert list(summary["ratio_int"]) == ["1:8:3", "1:4:1", "1:6:2"]  # by lower bound
    assert "2:6:1" not in set(summary["ratio_int"])  # only a failed run


def test_best_ratio_without_full_runs_names_datasets_with_results(stats_store):
    with pytest.raises(analysis.StoreError, match="'mnist' has no full run in .*results: digits$"):
        analysis.best_ratio("mnist", storage=stats_store)


def test_best_ratio_default_storage(stats_store, tmp_path, monkeypatch):
    monkeypatch.setenv("BIRIL_RESULTS", stats_store)
    assert analysis.best_ratio("digits").ratio_int == "1:8:3"
    monkeypatch.delenv("BIRIL_RESULTS")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(analysis.StoreError, match="biril-results"):
        analysis.best_ratio("digits")


# ---------------------------------------------------------------- surface


def test_surface_maximum_lands_near_the_true_optimum():
    rng = np.random.default_rng(7)
    peak = np.array([0.15, 0.6, 0.25])
    runs = peaked_runs(peak, n_ratios=40, seeds=2, noise=0.005, rng=rng)
    surface = analysis.fit_surface(
        np.stack([fractions(r.ratio) for r in runs]), np.array([r.val for r in runs])
    )
    assert simplex_distance(surface.argmax, peak) < 0.06  # grid step 0.025
    assert np.abs(surface.mean - peaked_accuracy(surface.grid, peak)).max() < 0.05


def test_surface_is_uncertain_where_no_trial_looked():
    # Trials only in the STBP-rich corner: the STDP vertex must be far less certain.
    ratios = [(a, 1 - a - c, c) for a in (0.0, 0.1, 0.2) for c in (0.0, 0.1, 0.2)]
    values = [0.9 - 0.1 * a for a, _, _ in ratios]
    surface = analysis.fit_surface(np.asarray(ratios), np.asarray(values))
    _, std = surface.estimate([(1, 0, 0), (0.1, 0.8, 0.1)])
    assert std[0] > 5 * std[1]


def test_surface_needs_three_distinct_ratios():
    with pytest.raises(ValueError, match=">= 3 distinct ratios, got 2"):
        analysis.fit_surface(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]]), np.array([0.1, 0.2, 0.3]))


# ---------------------------------------------------------------- CLI and report


def test_best_command_json(stats_store):
    result = CliRunner().invoke(cli, ["best", "--dataset", "digits", "--storage", stats_store,
                                               "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ratio"] == pytest.approx([1 / 12, 8 / 12, 3 / 12])
    assert data["val_acc"] == pytest.approx(np.mean(A_VALS))
    assert data["test_acc"] == pytest.approx(np.mean(A_TESTS))
    assert data["n_seeds"] == 3 and data["trial_id"] == "grid_00002"
    assert data["study"] == "digits/grid"
    assert data["ci"] == pytest.approx(list(pooled_interval(A_VALS)))
    assert data["val_size"] is None  # this store predates recording it
    # Gaps to A: E shares seeds 0 and 1 with it, so the paired t-test there; B shares one
    # seed only, so the t-test on the pooled SD (3 df). Both too close, Holm over the two.
    paired = stats.ttest_rel(A_VALS[:2], E_SEEDS).pvalue
    se = POOLED_SD * math.sqrt(1 / 3 + 1)
    unpaired = 2 * stats.t.sf((np.mean(A_VALS) - 0.91) / se, df=3)
    low, high = sorted([paired, unpaired])
    holm = {low: 2 * low, high: max(2 * low, high)}
    peers = data["indistinguishable"]
    assert [(p["ratio_int"], p["paired"]) for p in peers] == [("1:4:1", True), ("1:6:2", False)]
    for peer, raw in zip(peers, [paired, unpaired], strict=True):
        assert peer["p_unadjusted"] == pytest.approx(raw)
        assert peer["p"] == pytest.approx(holm[raw])
    assert data["vs_stbp"] is None
    assert data["verdict"] == (
        "pure STBP 0:1:0 has no full run in sweep grid: no baseline to compare"
    )


def test_best_command_text_and_errors(stats_store, tmp_path):
    runner = CliRunner()
    text = runner.invoke(cli, ["best", "--dataset", "digits", "--storage", stats_store])
    assert text.exit_code == 0 and "best ratio   1:8:3" in text.output
    missing = runner.invoke(cli, ["best", "--dataset", "digits", "--storage",
                                           str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: no results store at")
    assert missing.stderr.count("\n") == 1


def test_report_command_writes_a_self_contained_page(stats_store, tmp_path):
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(cli, ["report", "--storage", stats_store, "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<script src=" not in page  # nothing fetched: plotly.js is inline
    assert "Plotly.newPlot" in page and len(page) > 3_000_000
    assert "Comparison across datasets" in page
    assert "<td>STDP only</td><td>1:0:0</td><td>not run</td>" in page
    assert "<td>paper 2:6:1</td><td>2:6:1</td><td>failed</td>" in page  # D only failed
    assert "<td>paper 1:8:3</td><td>1:8:3</td><td>stopped early: 0.9700 at epoch 2</td>" in page
    low, high = pooled_interval(A_VALS)
    expected = f"{np.mean(A_VALS):.4f} [{low:.4f}, {high:.4f}]"
    assert f"<td>1:8:3</td><td>0.083, 0.667, 0.250</td><td>grid</td><td>3</td><td>{expected}" \
        in page
    bad = CliRunner().invoke(cli, ["report", "--storage", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ")
