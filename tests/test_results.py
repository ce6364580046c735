"""results/: the contract's layout, ratio identity, Student's t and the one best-ratio rule.

The rule is checked on hand-made runs whose answer is known, against SciPy's t distribution
and t-test as the independent reference.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from results import layout
from results.compare import holm
from results.ranking import rank
from results.ratios import Ratio, RatioError, closest_int_ratio, ratio_key
from results.runs import Run
from results.tdist import t_cdf, t_quantile, two_sided_p

REPO = Path(__file__).resolve().parents[1]
STBP, R183, R162, R001 = (0, 1, 0), (1, 8, 3), (1, 6, 2), (0, 0, 1)


def runs(ratio, values, study="digits/s", val_size=None, energy=None, first_seed=0) -> list[Run]:
    """One full run per seed ``first_seed``, +1, ... of ``ratio`` with these accuracies
    (ratios on the same seeds are compared paired; on other seeds, unpaired)."""
    total = sum(ratio)
    shares = tuple(x / total for x in ratio)
    return [
        Run(dataset="digits", sweep=study.split("/")[1], study=study, ratio=shares, seed=seed,
            val_acc=v, val_size=val_size, energy_pj_per_sample=energy, trial_number=seed)
        for seed, v in enumerate(values, start=first_seed)
    ]


# ---------------------------------------------------------------- Student's t


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 30, 1000, math.inf])
def test_t_distribution_matches_scipy(df):
    ref = stats.norm if math.isinf(df) else stats.t(df)
    for p in (0.001, 0.025, 0.3, 0.5, 0.9, 0.975, 0.9999):
        assert t_quantile(p, df) == pytest.approx(ref.ppf(p), rel=1e-8, abs=1e-9)
    for t in (-40.0, -2.5, -1e-3, 0.0, 0.7, 3.0):
        assert t_cdf(t, df) == pytest.approx(ref.cdf(t), abs=1e-11)
        assert two_sided_p(t, df) == pytest.approx(2 * ref.sf(abs(t)), abs=1e-11)


# ---------------------------------------------------------------- identity and layout


def test_a_ratio_is_the_same_ratio_to_six_decimals_and_no_further():
    assert ratio_key("1:8:3") == ratio_key([1 / 12, 8 / 12, 3 / 12]) == ratio_key([2, 16, 6])
    assert ratio_key([1 / 12 + 1e-9, 8 / 12, 3 / 12 - 1e-9]) == ratio_key("1:8:3")
    assert ratio_key([1 / 12 + 1e-5, 8 / 12, 3 / 12 - 1e-5]) != ratio_key("1:8:3")
    assert closest_int_ratio([0.25, 0.6667, 0.0833]) == "3:8:1"


def test_one_ratio_type_equal_and_hashed_as_the_same_ratio():
    r = Ratio.parse("1:8:3")
    assert r.fractions == (1 / 12, 8 / 12, 3 / 12)  # the hand-computed shares, exactly
    assert r == Ratio.parse([2, 16, 6]) == Ratio.parse("0.5:4:1.5")
    assert len({r, Ratio.parse([2, 16, 6]), Ratio.parse([1 / 12 + 1e-9, 8 / 12, 3 / 12])}) == 1
    assert r != Ratio.parse([1 / 12 + 1e-5, 8 / 12, 3 / 12 - 1e-5]) and r != "1:8:3"
    assert Ratio.parse("2:6:1").inhibitory_share == 3 / 9
    assert not Ratio.parse("0:1:0").has_stdp and Ratio.parse("0:1:1e-9").has_stdp
    assert Ratio.parse([0.5, 0.5, 0]).lattice_name() == "1:1:0"
    assert Ratio.parse([0.25, 0.6667, 0.0833]).lattice_name() == "3:8:1"


def test_a_ratio_as_text_reads_back_to_the_same_floats():
    r = Ratio.parse([1 / 3, 0.2, 0.1 + 0.2])
    assert str(r) == "0.3333333333333333:0.2:0.30000000000000004"
    assert Ratio.parse(str(r)).parts == r.parts  # bit for bit: nothing rounded at the edge
    assert str(Ratio.parse("1:8:3")) == "1:8:3" and str(Ratio.parse([2.0, 6, 1])) == "2:6:1"


@pytest.mark.parametrize("bad", ["1:2", "a:b:c", "0:0:0", "-1:2:3", "1:nan:2", [1, 2]])
def test_a_bad_ratio_is_a_user_error(bad):
    with pytest.raises(RatioError):
        Ratio.parse(bad)


def test_results_root_flag_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(layout.RESULTS_ENV, raising=False)
    assert layout.results_root() == str(tmp_path / "biril-results")
    monkeypatch.setenv(layout.RESULTS_ENV, "env-root")
    assert layout.results_root() == str(tmp_path / "env-root")
    assert layout.results_root("file://flag") == str(tmp_path / "flag")
    assert layout.results_root("s3://bucket/biril/") == "s3://bucket/biril"
    assert layout.is_object_store("gs://b/x") and not layout.is_object_store("postgresql://h/db")
    assert layout.sqlite_url("/r") == "sqlite:////r/biril.db"
    assert layout.split_study_name("digits/laptop") == ("digits", "laptop")
    assert layout.split_study_name("no-slash") is None


def test_results_imports_no_torch_ray_optuna_or_pandas():
    code = (
        "import sys, results.layout, results.schema, results.ranking, results.runs; "
        "print(','.join(m for m in ('torch', 'ray', 'optuna', 'pandas', 'scipy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


# ---------------------------------------------------------------- the rule


def test_a_confirmed_ratio_beats_a_single_lucky_run():
    # The digits sweep: 144 validation images. 1:8:3 confirmed on 3 seeds, pure
    # STBP on the same 3, and 0:0:1 once, one image better than 1:8:3's mean.
    confirmed = [142 / 144, 141 / 144, 143 / 144]
    ranking = rank(
        runs(R183, confirmed, val_size=144)
        + runs(STBP, [141 / 144, 140 / 144, 142 / 144], val_size=144)
        + runs(R001, [143 / 144], val_size=144)
    )
    best = ranking.best
    assert best.ratio_int == "1:8:3" and best.n_seeds == 3 and best.val_size == 144
    assert [s.ratio_int for s in ranking.standings] == ["1:8:3", "0:0:1", "0:1:0"]
    # The lucky run has the highest mean but the lowest bound: one seed, same noise.
    lucky = ranking.standings[1]
    assert lucky.val_acc > best.val_acc and lucky.score < best.score
    assert lucky.indistinguishable  # yet it cannot be told apart from the best
    assert best.verdict.startswith("nothing is distinguishable from pure STBP 0:1:0 at 95%")


def test_a_lucky_run_far_enough_ahead_does_win():
    # The rule is not "confirmed first": a single run 10 SDs above the rest still ranks first.
    ranking = rank(runs(R183, [0.90, 0.91, 0.92]) + runs(R001, [0.99]))
    assert ranking.best.ratio_int == "0:0:1"


def test_two_ratios_that_cannot_be_told_apart_match_scipys_t_test():
    # Only two ratios, on different seeds, and no validation size: the pooled SD is the
    # two-sample t-test's.
    a, b = [0.950, 0.962, 0.971], [0.955, 0.958, 0.966]
    ranking = rank(runs(R183, a) + runs(R162, b, first_seed=10))
    best, other = ranking.standings
    assert (best.ratio_int, other.ratio_int) == ("1:8:3", "1:6:2")  # higher lower bound
    assert other.p_vs_best == pytest.approx(stats.ttest_ind(a, b).pvalue)
    assert other.paired is False and ranking.best.indistinguishable[0].paired is False
    assert [p.ratio_int for p in ranking.best.indistinguishable] == ["1:6:2"]
    pooled = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    ci = stats.t.interval(0.95, df=4, loc=np.mean(a), scale=pooled / math.sqrt(3))
    assert best.ci == pytest.approx(ci)


def test_a_clearly_worse_ratio_is_not_listed_and_a_clear_win_over_stbp_is_said():
    a, b = [0.95, 0.96, 0.97], [0.955, 0.965, 0.975]
    # Each ratio on seeds of its own: every comparison is the unpaired one.
    ranking = rank(
        runs(R183, a, val_size=10_000) + runs(R162, b, val_size=10_000, first_seed=10)
        + runs(R001, [0.90, 0.91, 0.92], val_size=10_000, first_seed=20)
        + runs(STBP, [0.92, 0.93, 0.94], val_size=10_000, first_seed=30)
    )
    best = ranking.best
    assert best.ratio_int == "1:6:2"
    assert [p.ratio_int for p in best.indistinguishable] == ["1:8:3"]
    # Every ratio's seed SD is 0.01, above the binomial floor at 10 000 images (0.0018).
    t, se = stats.t.ppf(0.975, df=8), 0.01 * math.sqrt(2 / 3)
    diff = np.mean(b) - 0.93
    assert best.sd == pytest.approx(0.01)
    assert best.vs_stbp.diff == pytest.approx(diff)
    assert best.vs_stbp.ci == pytest.approx((diff - t * se, diff + t * se))
    raw = 2 * stats.t.sf(diff / se, df=8)
    assert best.vs_stbp.p_unadjusted == pytest.approx(raw)
    # Holm over the three comparisons with the best: 0:0:1's p is smaller, so STBP's is
    # the second smallest, times two.
    assert best.vs_stbp.p == pytest.approx(2 * raw)
    assert not best.vs_stbp.paired and best.vs_stbp.n_pairs is None
    assert best.verdict.startswith("1:6:2 beats pure STBP 0:1:0 (+3.50 points")
    assert "unpaired, over 3 and 3 seeds" in best.verdict


def test_configs_on_shared_seeds_are_compared_paired_with_holm_across_the_peers():
    # Four seeds each, the same four: the confirmation stage's design. The seed-to-seed
    # spread (0.96 .. 0.99) is far larger than the gaps, but it is shared, so it cancels.
    best_vals = [0.970, 0.980, 0.990, 0.975]
    stbp_vals = [0.960, 0.965, 0.970, 0.970]
    peer_vals = {R183: [0.962, 0.978, 0.985, 0.972], R001: [0.962, 0.975, 0.980, 0.970]}
    ranking = rank(
        runs(R162, best_vals, val_size=1000) + runs(STBP, stbp_vals, val_size=1000)
        + sum((runs(r, v, val_size=1000) for r, v in peer_vals.items()), [])
    )
    best = ranking.best
    assert best.ratio_int == "1:6:2"
    # By hand: differences .010 .015 .020 .005, mean .0125, squares about the mean
    # 2 × .0025² + 2 × .0075² = 1.25e-4 over 3 df, t(.975, 3) = 3.182446.
    sd = math.sqrt(1.25e-4 / 3)
    half = 3.182446 * sd / 2
    vs = best.vs_stbp
    assert vs.paired and vs.n_pairs == 4 and vs.diff == pytest.approx(0.0125)
    assert vs.ci == pytest.approx((0.0125 - half, 0.0125 + half), abs=1e-6)
    # ... and SciPy's paired t-test, its p and its interval.
    ref = stats.ttest_rel(best_vals, stbp_vals)
    assert vs.p_unadjusted == pytest.approx(ref.pvalue)
    assert vs.ci == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert "paired over 4 shared seeds" in best.verdict
    # Every other config against the best: SciPy's paired p-values, Holm-adjusted by hand
    # (smallest × 3, next × 2, largest × 1, kept non-decreasing).
    raw = {
        "0:1:0": stats.ttest_rel(best_vals, stbp_vals).pvalue,
        "1:8:3": stats.ttest_rel(best_vals, peer_vals[R183]).pvalue,
        "0:0:1": stats.ttest_rel(best_vals, peer_vals[R001]).pvalue,
    }
    order = sorted(raw, key=raw.get)
    adjusted, running = {}, 0.0
    for i, name in enumerate(order):
        running = max(running, min(1.0, (3 - i) * raw[name]))
        adjusted[name] = running
    others = {s.ratio_int: s for s in ranking.standings[1:]}
    for name, s in others.items():
        assert s.paired and s.p_unadjusted == pytest.approx(raw[name])
        assert s.p_vs_best == pytest.approx(adjusted[name])
    assert [p.ratio_int for p in best.indistinguishable] == [
        n for n in others if adjusted[n] >= 0.05
    ]
    assert raw["1:8:3"] < 0.05 <= adjusted["1:8:3"]  # a tie only once corrected
    assert [p.ratio_int for p in best.indistinguishable] == ["1:8:3", "0:1:0"]
    # Pure STBP is one of the family: vs_stbp carries its adjusted p, so the verdict agrees.
    assert vs.p == pytest.approx(adjusted["0:1:0"]) and vs.p >= 0.05
    assert best.verdict.startswith("nothing is distinguishable from pure STBP")
    assert f"p = {vs.p:.2g} (Holm; {vs.p_unadjusted:.2g} alone)" in best.verdict


def test_holm_matches_a_textbook_case():
    # m = 4: .005 × 4 = .02, .01 × 3 = .03, .03 × 2 = .06, .04 × 1 = .04 -> raised to .06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_accuracy_intervals_stay_inside_zero_and_one():
    # The case: 0.9861 ± 0.0328 reached 1.0189. Cut at 1, the lower end unchanged.
    ranking = rank(runs(R183, [1.0, 0.972, 0.986], val_size=144)
                   + runs(STBP, [0.9, 0.93], val_size=144))
    best = ranking.best
    sd = best.sd
    half = stats.t.ppf(0.975, df=3) * sd / math.sqrt(3)
    assert best.val_acc + half > 1.0
    assert best.ci == pytest.approx((best.val_acc - half, 1.0))
    assert all(0.0 <= s.ci[0] <= s.ci[1] <= 1.0 for s in ranking.standings)


def test_seeds_that_agree_exactly_still_leave_the_validation_sets_error():
    # Two seeds on the same count of correct images: SD 0, but 144 images cannot resolve
    # better than their binomial error.
    ranking = rank(runs(R183, [0.75, 0.75], val_size=144) + runs(STBP, [0.7], val_size=144))
    p = (0.75 * 144 + 1) / 146
    assert ranking.best.sd == pytest.approx(math.sqrt(p * (1 - p) / 144))
    assert ranking.best.ci[0] < 0.75 < ranking.best.ci[1]


def test_without_seed_spread_or_validation_size_it_says_it_cannot_tell():
    best = rank(runs(R183, [0.9]) + runs(STBP, [0.8])).best
    assert best.ratio_int == "1:8:3" and best.ci is None and best.indistinguishable == []
    assert best.verdict.startswith("how sure: unknown")


def test_pure_stbp_first_and_energy_budgets():
    ranking = rank(runs(STBP, [0.96, 0.97], energy=1000.0) + runs(R183, [0.90, 0.91], energy=700.0))
    assert ranking.best.verdict == "pure STBP 0:1:0 ranks first: no ratio beat it"
    assert ranking.best.vs_stbp is None
    cheap = rank(
        runs(STBP, [0.96, 0.97], energy=1000.0) + runs(R183, [0.90, 0.91], energy=700.0),
        max_energy=800.0,
    )
    assert [s.ratio_int for s in cheap.standings] == ["1:8:3"]
    # The noise is still the sweep's: both ratios' seeds (SD 0.00707, 2 df).
    assert cheap.best.sd == pytest.approx(math.sqrt(np.var([0.96, 0.97], ddof=1)))


def test_ratios_of_different_sweeps_rank_together_each_with_its_own_noise():
    ranking = rank(
        runs(R183, [0.90, 0.92, 0.94], study="digits/a")
        + runs(R183, [0.93, 0.931, 0.932], study="digits/b")
    )
    assert [s.study for s in ranking.standings] == ["digits/b", "digits/a"]
    assert ranking.noise["digits/b"].sd == pytest.approx(0.001)
    assert ranking.noise["digits/a"].sd == pytest.approx(0.02)
