"""Ratio parsing and the mode schedule: counts track k·p, blocked cycles are literal."""

import random

import pytest

from biril.schedule import Mode, Ratio, RatioError, mode_counts, modes


def test_parse_and_fractions():
    r = Ratio.parse("1:8:3")
    assert r.parts == (1, 8, 3)
    assert r.fractions == pytest.approx((1 / 12, 8 / 12, 3 / 12))
    assert Ratio.parse("0.2:0.5:0.3").fractions == pytest.approx((0.2, 0.5, 0.3))
    assert Ratio.parse([2, 6, 1]).inhibitory_share == pytest.approx(3 / 9)
    assert str(Ratio.parse("1:8:3")) == "1:8:3"


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("0:0:0", "at least one part must be > 0"),
        ("-1:2:3", "must be finite and >= 0"),
        ("1:2", "expected three parts"),
        ("1:2:3:4", "expected three parts"),
        ("a:b:c", "must be numbers"),
        ("1:nan:1", "finite"),
    ],
)
def test_invalid_ratios_are_rejected_with_a_reason(text, fragment):
    with pytest.raises(RatioError, match=fragment):
        Ratio.parse(text)


@pytest.mark.parametrize("seed", range(20))
def test_interleaved_counts_stay_within_one_of_share(seed):
    rng = random.Random(seed)
    parts = [rng.choice([0, 0.5, 1, 2, 3, 7, rng.random()]) for _ in range(3)]
    if sum(parts) == 0:
        parts[1] = 1
    ratio = Ratio.parse(parts)
    p = ratio.fractions
    seq = modes(ratio, 500)
    counts = [0, 0, 0]
    order = [Mode.STDP, Mode.STBP, Mode.STDP_STBP]
    for k, m in enumerate(seq, start=1):
        counts[order.index(m)] += 1
        for i in range(3):
            assert abs(counts[i] - k * p[i]) <= 1 + 1e-9


def test_interleaved_small_case_by_hand():
    # 1:2:1 → deficits at k=0: (.25, .5, .25) → STBP; k=1: (.5, 0, .5) → STDP (tie → STDP) ...
    seq = [m.value for m in modes("1:2:1", 8)]
    assert seq == ["stbp", "stdp", "stdp_stbp", "stbp"] * 2


def test_blocked_cycles_are_exact():
    seq = [m.value for m in modes("2:3:1", 12, order="blocked")]
    cycle = ["stdp"] * 2 + ["stbp"] * 3 + ["stdp_stbp"]
    assert seq == cycle * 2
    with pytest.raises(RatioError, match="integer ratio"):
        modes("0.5:1:1", 4, order="blocked")


@pytest.mark.parametrize(
    "ratio,mode", [("1:0:0", "stdp"), ("0:1:0", "stbp"), ("0:0:1", "stdp_stbp")]
)
def test_pure_baselines(ratio, mode):
    assert mode_counts(modes(ratio, 7))[mode] == 7
