"""Adaptive seeds: a race among the top ratios, one seed per round, losers dropped early.

The fixed confirmation scheme gives each of the ``top_k`` ratios the same ``seeds`` extra
seeds, whether or not they are needed. A race (Maron & Moore's Hoeffding races; Birattari's
F-race) spends them where the comparison is close: every ratio still in the race gets the
next seed, and after each round a ratio leaves it once a **paired t-test** on the seeds it
shares with the leader (the highest mean) says it is worse (``results.compare``, Holm's
correction over the ratios tested that round). The race ends when one ratio is left, the
budget of runs is spent, or the survivors have all their seeds.

Why a sequential paired t-test and not Optuna's ``WilcoxonPruner``: both treat seeds as
the instances a ratio is measured on, but with ``n`` pairs the smallest two-sided p the
signed-rank test can give is ``2 / 2^n`` — 0.25 at 3 seeds, 0.0625 at 5 — so it cannot drop
a ratio at α = 0.05 before the sixth seed, and a digits sweep confirms on two to four. The
t-test can (its p depends on the size of the differences, not only their signs), and it is
the test the ranking itself uses, so the race and the answer agree on what "worse" means.

A round is decided only once every run of it has finished (decisions on results, never on
arrival order); the price is slots left idle at the end of each round, which
``bench_search`` measures. The budget is in runs, each a full ``train.epochs`` run, so
``budget × epochs`` trial-epochs — the fixed scheme's unit.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from statistics import mean

from results.compare import holm, shared_seed_diffs
from results.tdist import two_sided_p

ALPHA = 0.05


@dataclass(frozen=True)
class RaceState:
    """Where a race stands: the ratios still in it, the runs of the round under way (or
    none: the race is over), and the runs it has spent."""

    survivors: list[Hashable]
    round_runs: list[tuple[Hashable, int]]
    spent: int
    rounds: int  # rounds started, the one under way included: seeds[:rounds] given out


def survivors(
    scores: dict[Hashable, dict[int, float]], alive: list[Hashable], floor: float
) -> list[Hashable]:
    """The ratios of ``alive`` not shown worse than the leader, the leader first.

    ``scores``: ratio -> {seed: validation accuracy} of its full runs. Each ratio's
    differences to the leader, seed by seed, are tested against their SD pooled over the
    race (as the ranking pools its SD over the sweep): two or three pairs each give a
    t-test with one or two degrees of freedom, which can drop nothing; pooled, the race's
    ratios lend each other theirs. ``floor``: the least SD of a difference (one image).
    """
    ranked = sorted(alive, key=lambda k: mean(scores[k].values()) if scores[k] else -1.0,
                    reverse=True)
    leader, others = ranked[0], ranked[1:]
    diffs = {k: shared_seed_diffs(scores[leader], scores[k]) for k in others}
    squares = sum(sum((d - mean(ds)) ** 2 for d in ds) for ds in diffs.values() if ds)
    df = sum(len(ds) - 1 for ds in diffs.values() if ds)
    if df == 0:
        return ranked
    sd = max(math.sqrt(squares / df), floor)
    tested = [(k, mean(ds), sd / math.sqrt(len(ds))) for k, ds in diffs.items() if ds]
    adjusted = holm([two_sided_p(d / se, df) for _, d, se in tested])
    gone = {k for (k, d, _), p in zip(tested, adjusted, strict=True) if d > 0 and p < ALPHA}
    return [leader, *(k for k in others if k not in gone)]


def race(
    pool: list[Hashable],
    scores: dict[Hashable, dict[int, float]],
    seeds: list[int],
    budget: int,
    floor: float,
    finished: set[tuple[Hashable, int]],
) -> RaceState:
    """Replay the race from its results: rounds in order, each decided once all its runs
    are ``finished``. ``seeds`` are the extra seeds in the order they are given out;
    ``pool`` the ratios that start, best first."""
    alive, spent, rounds = list(pool), 0, 0
    for i, seed in enumerate(seeds):
        runs = [(k, seed) for k in alive[: budget - spent]]
        if not runs:
            break
        if not all(run in finished for run in runs):
            return RaceState(alive, runs, spent, i + 1)
        spent += len(runs)
        # Decided on the seeds given out so far: a replay must not see later rounds.
        later = set(seeds[i + 1:])
        so_far = {k: {s: v for s, v in scores[k].items() if s not in later} for k in alive}
        alive = survivors(so_far, alive, floor)
        rounds = i + 1
        if len(alive) == 1 or spent >= budget:
            break
    return RaceState(alive, [], spent, rounds)

