"""Results at scale: the narrow store read, the vectorized ratio lookup, the report's reductions.

The references are independent of the code under test: Optuna's own reading of the same
store, the nearest integer ratio by the triple loop it replaced, pandas' group means, and
a Gaussian process fitted on every run, as the report did before it reduced anything.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import optuna
import pandas as pd
import pytest

import analysis
from analysis import report, subset
from analysis.ratios import simplex_grid
from analysis.stats import rank_trials
from analysis.surface import fit_surface
from analysis.synthetic import write_store
from analysis.tables import find_studies, open_store, read_trials
from results.ranking import rank
from results.ratios import closest_int_ratio, closest_int_ratios, fractions, ratio_key
from results.runs import RUN_ATTRS, is_full_run, run_of
from results.schema import CURVE_KEYS, REQUIRED_TRIAL_ATTRS, TRIAL_ATTRS

optuna.logging.set_verbosity(optuna.logging.WARNING)
N_TRIALS = 300


def triple_loop(ratio, max_total: int = 12) -> str:
    """The nearest ``a:b:c`` as ``closest_int_ratio`` computed it before: a loop per ratio."""
    target = fractions(ratio)
    best, best_error = (0, 1, 0), math.inf
    for total in range(1, max_total + 1):
        for a in range(total + 1):
            for b in range(total + 1 - a):
                c = total - a - b
                error = sum(abs(n / total - t) for n, t in zip((a, b, c), target, strict=True))
                if error < best_error - 1e-12:
                    best, best_error = (a, b, c), error
    divisor = math.gcd(math.gcd(best[0], best[1]), best[2])
    return ":".join(str(v // divisor) for v in best)


def test_vectorized_nearest_integer_ratio_matches_the_triple_loop():
    rng = np.random.default_rng(0)
    lattice = simplex_grid(12)
    # Random ratios, every lattice point, points halfway between lattice neighbours (ties
    # the simplest must win), the vertices and edges.
    cases = np.concatenate([
        rng.dirichlet([1.0, 1.0, 1.0], 1500),
        rng.dirichlet([0.2, 0.2, 0.2], 500),
        lattice,
        (lattice[:-1] + lattice[1:]) / 2,
        [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]],
    ])
    assert closest_int_ratios(cases) == [triple_loop(r) for r in cases]
    assert [closest_int_ratio(r) for r in cases[:40]] == [triple_loop(r) for r in cases[:40]]
    assert closest_int_ratio("2:2:0") == "1:1:0" and closest_int_ratios([]) == []


def add_handmade_sweep(url: str) -> None:
    """What the synthetic store lacks: two objectives with an infinite value, categorical
    and integer parameters, a trial still running with no attribute, a failed one."""
    study = optuna.create_study(storage=url, study_name="mnist/handmade",
                                directions=["maximize", "minimize"])
    lattice = optuna.distributions.CategoricalDistribution(["1:8:3", "0:1:0", "2:6:1"])
    steps = optuna.distributions.IntDistribution(1, 9, step=2)
    attrs = {"ratio": [0.0, 1.0, 0.0], "seed": 0, "stage": "search", "full_run": True,
             "epochs_completed": 2, "epochs_planned": 2, "test_acc": 0.9}
    study.add_trial(optuna.trial.create_trial(
        values=[0.91, math.inf], params={"lattice": "0:1:0", "steps": 7},
        distributions={"lattice": lattice, "steps": steps}, user_attrs=attrs,
    ))
    study.add_trial(optuna.trial.create_trial(
        values=[0.5, 10.0], params={"lattice": "2:6:1", "steps": 3},
        distributions={"lattice": lattice, "steps": steps},
        user_attrs={**attrs, "ratio": [2 / 9, 6 / 9, 1 / 9], "full_run": False},
    ))
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, user_attrs={"ratio": [1, 1, 1], "seed": 1}
    ))
    study.ask()  # the searcher has just created it: RUNNING, nothing recorded yet


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale") / "results"
    root.mkdir()
    url = f"sqlite:///{root / 'biril.db'}"
    names = write_store(url, N_TRIALS, seed=2)
    add_handmade_sweep(url)
    return str(root), url, names


def optuna_trials(url: str, name: str) -> list:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def test_narrow_read_matches_optunas_own_reading(store):
    root, url, names = store
    with open_store(root) as s:
        studies = find_studies(s)
        everything = read_trials(s, studies, params=True)
        light = read_trials(s, studies, skip=["curve"])
        ranking_only = read_trials(s, studies, keys=RUN_ATTRS)
        full_runs = read_trials(s, studies, keys=RUN_ATTRS, full_runs=True)
    assert [st.name for st in studies] == [*names, "mnist/handmade"]
    for study in studies:
        reference = optuna_trials(url, study.name)
        ours = everything[study.name]
        assert [t.number for t in ours] == [t.number for t in reference]
        for mine, theirs in zip(ours, reference, strict=True):
            assert mine.state.name == theirs.state.name
            assert mine.values == theirs.values
            assert mine.user_attrs == theirs.user_attrs
            assert mine.params == theirs.params
            assert (mine.datetime_start, mine.datetime_complete) == (
                theirs.datetime_start, theirs.datetime_complete)
        for mine, theirs in zip(light[study.name], reference, strict=True):
            assert dict(mine.user_attrs) == {
                k: v for k, v in theirs.user_attrs.items() if k != "curve"}
        wanted = {*RUN_ATTRS, *REQUIRED_TRIAL_ATTRS}
        for mine, theirs in zip(ranking_only[study.name], reference, strict=True):
            assert dict(mine.user_attrs) == {
                k: v for k, v in theirs.user_attrs.items() if k in wanted}
        assert [(t.number, t.values) for t in full_runs[study.name]] == [
            (t.number, t.values) for t in reference if is_full_run(t)]
    handmade = everything["mnist/handmade"]
    assert handmade[0].values == [0.91, math.inf]
    assert handmade[0].params == {"lattice": "0:1:0", "steps": 7}


def test_a_key_the_narrow_read_skipped_is_an_error_not_a_missing_value(store):
    root, url, names = store
    with open_store(root) as s:
        trial = read_trials(s, find_studies(s, sweep=names[0].split("/")[1]),
                            keys=RUN_ATTRS)[names[0]][0]
    # A key the reader selected reads as Optuna reads it.
    (first, *_) = optuna_trials(url, names[0])
    assert trial.user_attrs.get("test_acc") == first.user_attrs.get("test_acc")
    with pytest.raises(KeyError, match="'curve' was not read from the store"):
        trial.user_attrs.get("curve")
    with pytest.raises(KeyError, match="not read"):
        _ = "spike_rates" in trial.user_attrs


def test_best_from_the_narrow_read_is_the_rule_on_optunas_trials_and_on_the_frame(store):
    root, url, names = store
    best = analysis.best_ratio("digits", storage=root)
    # The sweep summary's way: Optuna's own trials, run_of, the rule.
    runs = [
        run
        for name in names
        for t in optuna_trials(url, name)
        if (run := run_of(t, "digits", name.split("/")[1], name)) is not None
    ]
    assert best == rank(runs).best
    # The report's way: the full trials frame.
    assert best == rank_trials(analysis.load_trials(root, dataset="digits")).best
    assert analysis.best_ratio("mnist", storage=root).ratio_int == "0:1:0"


def test_the_synthetic_store_carries_every_schema_attribute_and_curve_key(store, monkeypatch):
    _, url, names = store
    trials = optuna_trials(url, names[0])
    confirmation = next(t for t in trials if t.user_attrs["role"] == "confirm")
    assert set(confirmation.user_attrs) == set(TRIAL_ATTRS)
    assert all(set(point) == set(CURVE_KEYS) for point in confirmation.user_attrs["curve"])
    assert len(confirmation.intermediate_values) == len(confirmation.user_attrs["curve"])
    assert sum(len(optuna_trials(url, n)) for n in names) == N_TRIALS
    import analysis.synthetic

    monkeypatch.setattr(analysis.synthetic, "TRIAL_ATTRS", {**TRIAL_ATTRS, "stdp_effect": ""})
    with pytest.raises(RuntimeError, match=r"missing \['stdp_effect'\]"):
        write_store(url, 1)


def test_fit_points_pool_seeds_and_keep_the_reported_ratios_and_every_region():
    rng = np.random.default_rng(4)
    ratios = rng.dirichlet([1.0, 1.0, 1.0], 400)
    fracs = np.repeat(ratios, 3, axis=0)  # three seeds each
    values = rng.random(len(fracs))
    tiers = np.repeat(rng.integers(1, 3, len(ratios)), 3)
    tiers[:6] = 0  # the first two ratios are reported on
    pooled = subset.fit_points(fracs, values, tiers, cap=10_000)
    expected = pd.DataFrame({"k": [ratio_key(f) for f in fracs], "v": values}).groupby("k").v
    got = dict(zip(map(ratio_key, pooled.fracs), pooled.values, strict=True))
    assert got == pytest.approx(expected.mean().to_dict())
    assert pooled.method == "per-ratio means (seeds pooled): 400 ratios from 1,200 runs"

    small = subset.fit_points(fracs, values, tiers, cap=120)
    assert len(small.fracs) == 120
    kept = {ratio_key(f) for f in small.fracs}
    assert {ratio_key(ratios[0]), ratio_key(ratios[1])} <= kept
    cells = {tuple(np.minimum((r[:2] * 12).astype(int), 11)) for r in ratios}
    assert {tuple(np.minimum((f[:2] * 12).astype(int), 11)) for f in small.fracs} == cells
    assert small.method.startswith(
        "per-ratio means (seeds pooled) of a stratified subset of 1,200 runs: 120 of 400 ratios "
        "(all 2 reported ratios")
    assert subset.fit_points(fracs, values, tiers, cap=120).fracs.tolist() == small.fracs.tolist()


def completed_runs(url: str, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every completed trial's ratio, validation accuracy and whether it is a full run, as
    Optuna reads them."""
    trials = [t for name in names for t in optuna_trials(url, name)
              if t.state.name == "COMPLETE" and t.values]
    return (np.array([fractions(t.user_attrs["ratio"]) for t in trials]),
            np.array([t.values[0] for t in trials]),
            np.array([bool(t.user_attrs["full_run"]) for t in trials]))


def test_report_says_what_it_left_out(store, tmp_path, monkeypatch):
    root, url, names = store
    monkeypatch.setattr(subset, "MAX_FIT_POINTS", 60)
    monkeypatch.setattr(subset, "MAX_DRAWN", 80)
    monkeypatch.setattr(report, "CURVES_PER_RATIO", 2)
    monkeypatch.setattr(report, "IMPORTANCE_SWEEPS", 1)
    path = analysis.write_report(root, dataset="digits", output=tmp_path / "r.html")
    page = path.read_text()
    fracs, _, _ = completed_runs(url, names)
    n_ratios = len({ratio_key(f) for f in fracs})
    assert "Left out of this page" in page
    assert f"Simplex plots draw 80 of {N_TRIALS:,} trials" in page
    assert (f"Surface fitted on per-ratio means (seeds pooled) of a stratified subset of "
            f"{len(fracs):,} runs: 60 of {n_ratios:,} ratios") in page
    assert f"Importances are shown for 1 of the {len(names)} sweeps" in page
    pattern = r'"name":"(?:full runs|stopped early|failed / unfinished) \((\d+) drawn'
    surface = page[page.index('id="surface-digits"'):page.index('id="probe-surface-digits"')]
    assert sum(map(int, re.findall(pattern, surface))) == 80
    # The probe's figure draws the same 80 beside accuracy and beside the probe.
    probe = page[page.index('id="probe-surface-digits"'):page.index('id="energy-surface-digits"')]
    assert sum(map(int, re.findall(pattern, probe))) == 2 * 80
    # Every curve is in the CSV beside the page, linked from it.
    curves = pd.read_csv(tmp_path / "r-curves.csv")
    every = sum(len(t.user_attrs.get("curve", [])) for n in names for t in optuna_trials(url, n))
    assert len(curves) == every and 'href="r-curves.csv"' in page
    with_curve = curves[["study", "trial_number"]].drop_duplicates().shape[0]
    shown = re.search(r"Learning curves are drawn for (\d+) of the ([\d,]+) trials", page)
    assert 0 < int(shown[1]) <= 2 * 13 and int(shown[2].replace(",", "")) == with_curve


def test_reduced_surface_agrees_with_the_unreduced_fit_within_its_uncertainty(store):
    _, url, names = store
    fracs, values, full = completed_runs(url, names)
    unreduced = fit_surface(fracs, values)  # every run, as the report fitted before
    # The report's tiers (no ratio singled out here): full runs before early-stopped ones.
    points = subset.fit_points(fracs, values, np.where(full, 1, 2), cap=100)
    reduced = fit_surface(points.fracs, points.values)
    assert len(points.fracs) == 100 < len({ratio_key(f) for f in fracs})
    # Within the reduced surface's own uncertainty: its 2-sigma band holds the unreduced
    # estimate at 95% or more of the grid (a pointwise 95% claim), 3 sigma everywhere.
    z = np.abs(reduced.mean - unreduced.mean) / reduced.std
    assert np.mean(z <= 2) >= 0.95 and z.max() <= 3
    # Where the unreduced surface peaks, the reduced one estimates the same height.
    mean, std = reduced.estimate([unreduced.argmax])
    assert abs(mean[0] - unreduced.max_mean) <= 2 * std[0]


def biril(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "birilcli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_store_sizes_below_ten_are_one_line_exit_2():
    r = biril("bench", "--only", "store", "--store-size", "5")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--store-size" in lines[0] and "at least 10" in lines[0]


@pytest.mark.slow
def test_store_bench_times_every_path_at_each_size_with_the_anchor():
    r = biril("bench", "--only", "store", "--store-size", "30", "--store-size", "90",
              "--store-reps", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    store = result["store"]
    assert store["sizes"] == [30, 90] and set(store["figures"]) == {
        "load_trials", "best_ratio", "best_command", "report_command", "trials_dataframe"}
    for figure in store["figures"].values():
        small, large = figure["wall_s"]["30"], figure["wall_s"]["90"]
        assert figure["growth_exponent"] == pytest.approx(math.log(large / small) / math.log(3))
    anchor = {n: store["figures"]["load_trials"]["wall_s"][n]
              / store["figures"]["trials_dataframe"]["wall_s"][n] for n in ("30", "90")}
    assert store["load_trials_over_trials_dataframe"] == pytest.approx(anchor)
    assert result["store_load_over_optuna"] == pytest.approx(max(anchor.values()))
    assert all(mb > 1 for mb in store["report_mb"].values())  # plotly.js alone is ~5 MB
