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
from results.ranking import rank
from results.ratios import Ratio, RatioError, closest_int_ratio, ratio_key
from results.runs import Run
from results.tdist import t_cdf, t_quantile, two_sided_p

REPO = Path(__file__).resolve().parents[1]
STBP, R183, R162, R001 = (0, 1, 0), (1, 8, 3), (1, 6, 2), (0, 0, 1)


def runs(ratio, values, study="digits/s", val_size=None, energy=None) -> list[Run]:
    """One full run per seed 0, 1, ... of ``ratio`` with these validation accuracies."""
    total = sum(ratio)
    shares = tuple(x / total for x in ratio)
    return [
        Run(dataset="digits", sweep=study.split("/")[1], study=study, ratio=shares, seed=seed,
            val_acc=v, val_size=val_size, energy_pj_per_sample=energy, trial_number=seed)
        for seed, v in enumerate(values)
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
    # Only two ratios and no validation size: the pooled SD is the two-sample t-test's.
    a, b = [0.950, 0.962, 0.971], [0.955, 0.958, 0.966]
    ranking = rank(runs(R183, a) + runs(R162, b))
    best, other = ranking.standings
    assert (best.ratio_int, other.ratio_int) == ("1:8:3", "1:6:2")  # higher lower bound
    assert other.p_vs_best == pytest.approx(stats.ttest_ind(a, b).pvalue)
    assert [p.ratio_int for p in ranking.best.indistinguishable] == ["1:6:2"]
    pooled = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    ci = stats.t.interval(0.95, df=4, loc=np.mean(a), scale=pooled / math.sqrt(3))
    assert best.ci == pytest.approx(ci)


def test_a_clearly_worse_ratio_is_not_listed_and_a_clear_win_over_stbp_is_said():
    a, b = [0.95, 0.96, 0.97], [0.955, 0.965, 0.975]
    ranking = rank(
        runs(R183, a, val_size=10_000) + runs(R162, b, val_size=10_000)
        + runs(R001, [0.90, 0.91, 0.92], val_size=10_000)
        + runs(STBP, [0.92, 0.93, 0.94], val_size=10_000)
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
    assert best.vs_stbp.p == pytest.approx(2 * stats.t.sf(diff / se, df=8))
    assert best.verdict.startswith("1:6:2 beats pure STBP 0:1:0 (+3.50 points")


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
