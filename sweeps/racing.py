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

from optuna.trial import FrozenTrial, TrialState

from results.compare import holm, shared_seed_diffs
from results.ratios import fractions, has_stdp
from results.runs import accuracy, is_full_run
from results.schema import CONTROL_OVERRIDES, ROLE_CONFIRM, ROLE_CONTROL
from results.tdist import two_sided_p

from .confirm import Confirmation, ConfirmRun, identity_of

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


@dataclass(frozen=True)
class RacingConfirmation(Confirmation):
    """The confirmation stage as a race (spec ``confirm.scheme: racing``): the top
    ``top_k`` ratios, the extra ``seeds`` given out one a round, at most ``budget`` runs.

    Pure STBP runs on the seeds the race has given out (and the search seed, as in the
    fixed scheme), and with ``controls`` the winner's frozen twin runs on its seeds once
    the race is over. The race starts when the search has ended.
    """

    budget: int = 0

    def plan(
        self, search: list[FrozenTrial], pending: int = 0, confirms: list[FrozenTrial] = ()
    ) -> list[ConfirmRun]:
        if pending:
            return []
        top = self._top(search, self.top_k)
        source = {identity_of(t)[:2]: t for t in top}
        scores: dict = {k: {} for k in source}
        finished = set()
        tops = {id(t) for t in top}
        for t in [*top, *confirms]:
            k = identity_of(t)[:2]
            mine = id(t) in tops or t.user_attrs.get("role") == ROLE_CONFIRM
            if k not in scores or not mine or t.user_attrs.get("overrides"):
                continue
            if is_full_run(t):
                scores[k][int(t.user_attrs["seed"])] = accuracy(t)
            if t.state.is_finished():
                finished.add((k, int(t.user_attrs["seed"])))
        sizes = [t.user_attrs.get("val_size") or 0 for t in search]
        floor = 1 / max(sizes) if max(sizes, default=0) else 0.0
        state = race(list(source), scores, list(self.seeds), self.budget, floor, finished)
        runs = [
            ConfirmRun(ROLE_CONFIRM, fractions(source[k].user_attrs["ratio"]), seed,
                       source=source[k])
            for k, seed in state.round_runs
        ]
        given = self.seeds[: state.rounds]
        stbp = [r for r in self._stbp(search) if r.seed == self.search_seed or r.seed in given]
        return runs + stbp + self._winner_controls(state, source, given)

    def _winner_controls(self, state: RaceState, source: dict, given) -> list[ConfirmRun]:
        """The winner's frozen twin on its seeds, once the race is over."""
        if not self.controls or state.round_runs:
            return []
        winner = source[state.survivors[0]]
        ratio = fractions(winner.user_attrs["ratio"])
        if not has_stdp(ratio):
            return []
        return [
            ConfirmRun(ROLE_CONTROL, ratio, seed, source=winner, overrides=dict(CONTROL_OVERRIDES))
            for seed in (self.search_seed, *given)
        ]

    def missing(self, trials: list[FrozenTrial]) -> list[ConfirmRun]:
        started = [t for t in trials if t.state != TrialState.WAITING]
        search = [t for t in started if t.user_attrs.get("stage", "search") == "search"]
        confirms = [t for t in started if t.user_attrs.get("stage") == "confirm"]
        have = {identity_of(t) for t in confirms}
        return [r for r in self.plan(search, 0, confirms) if r.identity not in have]
