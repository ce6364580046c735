"""The ratio search space: proportion trick, bounds, lattice, warm starts."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from biril import Ratio
from results.ratios import BASELINES, PAPER_RATIOS
from sweeps.simplex import Bounds, lattice_points
from sweeps.space import (
    LATTICE_PARAM,
    RatioSpace,
    from_bounds,
    on_lattice,
    proportions,
    to_bounds,
    warm_start_params,
)
from sweeps.spec import parse_spec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def bounds(**shares) -> Bounds:
    return Bounds.model_validate(shares)


def test_proportions_is_normalized_negative_log():
    # u = e^-a, e^-b, e^-c  →  (a, b, c) / (a + b + c)
    assert proportions((math.exp(-1), math.exp(-8), math.exp(-3))) == pytest.approx(
        (1 / 12, 8 / 12, 3 / 12)
    )
    assert proportions((1.0, math.exp(-2), 1.0)) == pytest.approx((0, 1, 0))
    assert proportions((1.0, 1.0, 1.0)) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_uniform_u_gives_the_uniform_simplex():
    # Dirichlet(1,1,1): each share has mean 1/3 and P(share > t) = (1 - t)^2.
    rng = np.random.default_rng(0)
    us = rng.uniform(1e-12, 1.0, size=(10000, 3))
    p = np.array([proportions(tuple(u)) for u in us])
    assert p.sum(axis=1) == pytest.approx(np.ones(len(p)))
    assert p.mean(axis=0) == pytest.approx([1 / 3] * 3, abs=0.015)
    assert (p[:, 1] > 0.5).mean() == pytest.approx(0.25, abs=0.015)
    assert (p[:, 0] > 0.2).mean() == pytest.approx(0.64, abs=0.015)


def test_lower_bounds_map_the_whole_simplex_affinely():
    b = bounds(stbp={"min": 0.3})
    # corners of the simplex land on the corners of the bounded triangle
    assert to_bounds((1, 0, 0), b) == pytest.approx((0.7, 0.3, 0.0))
    assert to_bounds((0, 1, 0), b) == pytest.approx((0.0, 1.0, 0.0))
    assert to_bounds((0.5, 0, 0.5), b) == pytest.approx((0.35, 0.3, 0.35))
    rng = np.random.default_rng(1)
    for _ in range(200):
        r = to_bounds(tuple(rng.dirichlet([1, 1, 1])), b)
        assert sum(r) == pytest.approx(1.0)
        assert r[1] >= 0.3 - 1e-12


def test_upper_bounds_project_onto_the_nearest_allowed_ratio():
    b = bounds(stbp={"max": 0.5})
    # nearest point of {stbp <= 0.5} to the pure-STBP corner, by hand: (0.25, 0.5, 0.25)
    assert to_bounds((0, 1, 0), b) == pytest.approx((0.25, 0.5, 0.25), abs=1e-9)
    assert to_bounds((0.6, 0.1, 0.3), b) == pytest.approx((0.6, 0.1, 0.3))
    b2 = bounds(stdp={"max": 0.2}, stdp_stbp={"max": 0.2})
    assert to_bounds((0.5, 0.0, 0.5), b2) == pytest.approx((0.2, 0.6, 0.2), abs=1e-9)


@pytest.mark.parametrize(
    ("ratio", "b"),
    [(r, bounds(stbp={"min": 0.3}, stdp={"max": 0.5})) for r in PAPER_RATIOS]
    + [(r, Bounds()) for r in BASELINES.values()],
)
def test_from_bounds_inverts_to_bounds(ratio, b):
    r = Ratio.parse(ratio).fractions
    p = from_bounds(r, b)
    assert p is not None
    assert to_bounds(p, b) == pytest.approx(r)


def test_from_bounds_rejects_ratios_outside():
    assert from_bounds((0.5, 0.2, 0.3), bounds(stbp={"min": 0.3})) is None


def test_lattice_points_enumerate_a_b_c_summing_to_n():
    points = lattice_points(12, Bounds())
    assert len(points) == math.comb(14, 2)
    assert len(set(points)) == len(points)
    assert all(sum(map(int, p.split(":"))) == 12 for p in points)
    bounded = lattice_points(12, bounds(stbp={"min": 0.5}))
    assert all(int(p.split(":")[1]) >= 6 for p in bounded)
    assert len(bounded) == sum(13 - b for b in range(6, 13))


def test_ratios_onto_the_lattice():
    assert on_lattice("1:4:1", 12) == "2:8:2"
    assert on_lattice("1:8:3", 12) == "1:8:3"
    assert on_lattice("1:6:2", 12) is None
    assert on_lattice("0:1:0", 12) == "0:12:0"


def suggested(spec_data: dict) -> list[list[float]]:
    """The ratios a real Optuna study produces for the spec's warm starts."""
    spec = parse_spec(spec_data)
    params, _ = warm_start_params(spec)
    study = optuna.create_study(direction="maximize")
    space = RatioSpace(spec)
    ratios = []
    for p in params:
        study.enqueue_trial(p)
        trial = study.ask()
        ratios.append(space(trial)["ratio"])
        study.tell(trial, 0.5)
    return ratios


def test_warm_starts_reach_optuna_as_exact_ratios():
    ratios = suggested({})
    expected = [Ratio.parse(r).fractions for r in [*PAPER_RATIOS, *BASELINES.values()]]
    assert len(ratios) == len(expected)
    for got, want in zip(ratios, expected, strict=True):
        assert got == pytest.approx(list(want), abs=1e-12)


def test_warm_starts_outside_bounds_or_lattice_are_left_out():
    spec = parse_spec({"search": {"bounds": {"stbp": {"min": 0.6}}}})
    params, skipped = warm_start_params(spec)
    # STBP shares: 1:4:1 → .667, 1:6:2 → .667, 2:6:1 → .667, 1:8:3 → .667, 3:8:1 → .667
    assert skipped == ["1:0:0", "0:0:1"]
    assert len(params) == 6
    spec = parse_spec({"search": {"space": "lattice", "lattice": {"total": 12}}})
    params, skipped = warm_start_params(spec)
    assert skipped == ["1:6:2", "2:6:1"]
    assert {p[LATTICE_PARAM] for p in params} == {
        "2:8:2",
        "1:8:3",
        "3:8:1",
        "12:0:0",
        "0:12:0",
        "0:0:12",
    }


def test_sampled_trials_carry_a_ratio_inside_the_bounds():
    spec = parse_spec({"search": {"bounds": {"stbp": {"min": 0.3}, "stdp": {"max": 0.4}}}})
    space = RatioSpace(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        config = space(trial)
        r = config["ratio"]
        assert sum(r) == pytest.approx(1.0)
        assert r[1] >= 0.3 - 1e-9 and r[0] <= 0.4 + 1e-9
        assert trial.user_attrs["ratio"] == r
        assert (config["stage"], config["seed"]) == ("search", 0)
        study.tell(trial, 0.0)


def test_lattice_trials_hand_the_trainer_integer_parts():
    spec = parse_spec({"search": {"space": "lattice", "lattice": {"total": 12}}})
    study = optuna.create_study()
    study.enqueue_trial({LATTICE_PARAM: "2:8:2"})
    config = RatioSpace(spec)(study.ask())
    assert config["ratio_parts"] == [2, 8, 2]
    assert config["ratio"] == pytest.approx([1 / 6, 2 / 3, 1 / 6])
    # the trainer's blocked order takes these parts as they are (2 STDP, 8 STBP, 2 cyclic)
    assert str(Ratio.parse(config["ratio_parts"])) == "2:8:2"


@pytest.mark.parametrize("space", ["simplex", "lattice"])
def test_a_trial_trains_exactly_the_ratio_the_store_records(space, tmp_path):
    from sweeps.trainable import trial_config

    spec = parse_spec({"search": {"space": space, "bounds": {"stbp": {"min": 0.3}}}})
    ratio_space = RatioSpace(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    rounded_away = 0
    for _ in range(20):
        trial = study.ask()
        config = ratio_space(trial)
        base = {"train": {"dataset": "digits", "epochs": 2}}
        trained = trial_config({**config, "base": base}, "cpu", tmp_path, None).ratio
        stored = trial.user_attrs["ratio"]
        assert list(trained.fractions) == stored  # exactly: no float was rounded on the way
        # The old path, parts printed with six significant digits and parsed back:
        old = Ratio.parse(":".join(f"{p:g}" for p in config["ratio_parts"]))
        rounded_away += list(old.fractions) != stored
        study.tell(trial, 0.0)
    assert rounded_away == (20 if space == "simplex" else 0)
