"""The frozen control and searched params in every answer: summary, ``biril best --json``,
``analysis.best_ratio`` and the report, on hand-made stores whose answer is known.

The expected STDP effect is SciPy's paired t-test (``ttest_rel``) of the same accuracies,
an independent reference for ``results.effect``.
"""

from __future__ import annotations

import pytest
from scipy import stats
from test_analysis import Run, sqlite_root, write_sweep
from test_answer import answers

from results.effect import stdp_effects
from results.ranking import rank
from results.runs import Run as ResultRun
from results.runs import config_of
from results.schema import STDP_KEYS

R141, STBP, R183 = (1, 4, 1), (0, 1, 0), (1, 8, 3)
FROZEN = {"stdp_lr": 0}
STDP_COUNTS, CONTROL_COUNTS = [142, 141, 143], [140, 141, 141]  # of 144, seeds 0, 1, 2
# Four epochs: the steps shrink with the schedule, the filters decorrelate, the weights drift.
DIAGNOSTICS = [
    {
        "stem_conv": {"stdp_step": 1e-3 * k, "grad_step": 4e-3, "filter_cos": 0.3, "init_cos": 1},
        "blocks.0.conv1": {
            "stdp_step": 1e-3 * k, "grad_step": 1e-2, "filter_cos": 0.04 + 0.01 * k,
            "init_cos": 0.9 + 0.02 * k,
        },
    }
    for k in (4, 3, 2, 1)
]


def seeds(ratio, counts, role="confirm", size=144, **kw) -> list[Run]:
    """One full run per seed 0, 1, ... with ``counts`` correct of ``size`` validation images."""
    return [
        Run(ratio, c / size, seed=seed, test=0.98, val_size=size,
            stage="search" if seed == 0 and role == "confirm" else "confirm",
            role="search" if seed == 0 and role == "confirm" else role, **kw)
        for seed, c in enumerate(counts)
    ]


def expected_effect(stdp_counts, control_counts) -> tuple[float, tuple[float, float]]:
    a = [c / 144 for c in stdp_counts]
    b = [c / 144 for c in control_counts]
    test = stats.ttest_rel(a, b)
    ci = test.confidence_interval(0.95)
    return sum(a) / len(a) - sum(b) / len(b), (ci.low, ci.high)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root, url = sqlite_root(tmp_path_factory.mktemp("effect"))
    # 1:4:1 confirmed on 3 seeds with its frozen twin on the same seeds; the twin scores
    # far above everything on seed 3, which only it ran: ranked, it would win.
    write_sweep(url, "digits", "laptop", [
        *seeds(R141, STDP_COUNTS, stdp=DIAGNOSTICS),
        *seeds(R141, CONTROL_COUNTS, role="stdp_control", overrides=FROZEN),
        Run(R141, 1.0, seed=3, test=1.0, val_size=144, stage="confirm", role="stdp_control",
            overrides=FROZEN),
        *seeds(STBP, [139, 140, 141], role="stbp_baseline"),
    ], root=root)
    # stdp_lr searched with the ratio: 1:8:3 at 0.01 confirmed on 3 seeds, 1:8:3 at 0.05
    # once and luckier; pure STBP best in another sweep of mnist.
    write_sweep(url, "mnist", "eta", [
        *seeds(R183, [4951, 4955, 4957], size=5000, params={"stdp_lr": 0.01}),
        Run(R183, 4958 / 5000, seed=0, test=0.99, val_size=5000, params={"stdp_lr": 0.05}),
        *seeds(STBP, [4900, 4901, 4903], role="stbp_baseline", size=5000),
    ], root=root)
    write_sweep(url, "fashion_mnist", "stbp", [
        *seeds(STBP, [142, 143, 143]),
        *seeds(R183, [100, 102, 103]),
        *seeds(R183, [101, 101, 101], role="stdp_control", overrides=FROZEN),
    ], root=root)
    return root, url


def test_stdp_effect_is_the_paired_t_interval_in_every_answer(store, tmp_path):
    summary, api, cli, page = answers(store, "digits", "laptop", tmp_path)
    diff, (low, high) = expected_effect(STDP_COUNTS, CONTROL_COUNTS)
    # The control is not ranked: 1:4:1 is its 3 STDP seeds alone, not pooled with the
    # control's 4 (whose seed 3 at 100% would have won as a ratio of its own).
    assert api.ratio_int == "1:4:1" and api.seeds == [0, 1, 2]
    assert api.val_acc == pytest.approx(sum(STDP_COUNTS) / 3 / 144)
    effect = api.stdp_effect
    assert effect.n == 3  # seed 3 has no STDP run to pair with
    assert effect.diff == pytest.approx(diff) and effect.ci == pytest.approx((low, high))
    assert summary.best == api
    # No run fitted a linear probe: no probe effect.
    assert cli["stdp_effect"] == {"diff": effect.diff, "ci": list(effect.ci), "n": 3, "probe": {}}
    assert cli["probe"] == {}
    text = summary.render()
    assert f"stdp effect  {100 * diff:+.2f} points, 95% CI [{100 * low:+.2f}, " in text
    assert (f"STDP against its frozen control at 1:4:1: {100 * diff:+.2f} points, 95% CI "
            f"[{100 * low:+.2f}, {100 * high:+.2f}], over 3 seeds") in page
    row = (f"<td>1:4:1</td><td>laptop</td><td>3</td><td>{100 * diff:+.2f}</td>"
           f"<td>[{100 * low:+.2f}, {100 * high:+.2f}]</td>")
    assert row in page
    top = page[page.index("<h3>Top ratios</h3>"):page.index("<h3>STDP against")]
    assert top.count("<td>1:4:1</td>") == 1  # the control is no ratio of its own


def test_the_best_runs_stdp_diagnostics_are_in_the_report(store, tmp_path):
    *_, page = answers(store, "digits", "laptop", tmp_path)
    assert "What STDP does to the weights: 1:4:1" in page
    section = page[page.index("What STDP does to the weights"):]
    # steps: the mean of epochs 1-4 (0.0025, 0.01: a quarter); cosines: the last epoch
    assert ("<tr><td>blocks.0.conv1</td><td>0.0025</td><td>0.01</td><td>0.25</td><td>0.05</td>"
            "<td>0.92</td></tr>") in section
    assert 'id="stdp-digits"' in section


def test_searched_params_are_part_of_the_config_and_returned_with_the_best(store, tmp_path):
    summary, api, cli, page = answers(store, "mnist", "eta", tmp_path)
    # The lucky 0.05 run is another config, not a fourth seed of 1:8:3 at 0.01.
    assert (api.ratio_int, api.params, api.n_seeds) == ("1:8:3", {"stdp_lr": 0.01}, 3)
    assert cli["params"] == {"stdp_lr": 0.01}
    assert [(p.ratio_int, p.params) for p in api.indistinguishable] == [
        ("1:8:3", {"stdp_lr": 0.05})
    ]
    assert "params       stdp_lr 0.01 (searched with the ratio)" in summary.render()
    assert "<b>Best ratio 1:8:3 (stdp_lr 0.01)</b>" in page
    assert "averaged over the values the search tried" in page
    assert api.stdp_effect is None
    assert "not measured: no frozen control ran at 1:8:3" in summary.render()


def test_pure_stbp_has_no_frozen_twin_and_says_so(store, tmp_path):
    summary, api, cli, page = answers(store, "fashion_mnist", "stbp", tmp_path)
    assert api.ratio_int == "0:1:0" and cli["stdp_effect"] is None
    line = "none: 0:1:0 runs no STDP iterations, so it has no frozen twin"
    assert f"stdp effect  {line}" in summary.render() and line in page
    # The confirmed 1:8:3's twin still shows, in the summary and the report's table.
    diff, (low, high) = expected_effect([100, 102, 103], [101, 101, 101])
    (at,) = summary.stdp_effects
    assert at.ratio_int == "1:8:3" and at.effect.diff == pytest.approx(diff)
    assert (f"             at 1:8:3: {100 * diff:+.2f} points, 95% CI [{100 * low:+.2f}, "
            f"{100 * high:+.2f}], over 3 seeds") in summary.render()
    assert f"<td>1:8:3</td><td>stbp</td><td>3</td><td>{100 * diff:+.2f}</td>" in page


def test_one_paired_seed_has_no_interval_and_unpaired_seeds_do_not_count():
    def run(seed, val, **kw):
        return ResultRun(dataset="d", sweep="s", study="d/s", ratio=(0.5, 0.5, 0.0),
                         seed=seed, val_acc=val, **kw)

    runs = [run(0, 0.9), run(0, 0.92), run(1, 0.8), run(0, 0.85, overrides=FROZEN),
            run(2, 0.7, overrides=FROZEN)]
    (at,) = stdp_effects(runs)
    assert (at.ratio_int, at.config) == ("1:1:0", config_of("d/s", (1, 1, 0), {}))
    # seed 0: mean of 0.90 and 0.92 minus 0.85; seeds 1 and 2 ran on one side only
    assert (at.effect.n, at.effect.diff, at.effect.ci) == (1, pytest.approx(0.06), None)
    assert [s.n_seeds for s in rank(runs).standings] == [2]


def test_the_stores_diagnostic_keys_are_the_trainers():
    from biril.diagnostics import KEYS

    assert KEYS == STDP_KEYS
