"""The confirmation stage: which runs re-measure the top ratios and pure STBP, on more seeds.

A search runs every ratio once, on ``train.seed``. The confirmation stage then runs

- each of the ``top_k`` searched ratios again on the extra seeds (role ``confirm``), so
  the best one is a mean over seeds rather than one lucky run; and
- with ``controls``, each of those ratios' frozen twin (``overrides={"stdp_lr": 0}``, role
  ``stdp_control``) on the search seed and the extra seeds, with the searched params of the
  ratio's trial, so "what does STDP add here?" is a difference paired by seed. A ratio
  with no STDP share (pure STBP) has no twin: stdp_lr changes nothing there;
- pure STBP ``0:1:0`` on the same seeds as those ratios — the search seed too, unless the
  search already ran it to the end there at the spec's own settings (role
  ``stbp_baseline``) — so "does it beat plain STBP?" rests on several seeds on both sides.

Each run is a ``ConfirmRun`` identified by (ratio, searched params, seed, overrides): a
run already in the study under that identity is never run twice, so a top ratio that is
pure STBP needs no separate baseline, and a resumed sweep runs exactly what is missing.
A confirmation run re-runs its source trial's Optuna parameters, the searched
``TrainConfig`` params (spec ``search.params``) among them.

That is the fixed scheme (``confirm.scheme: fixed``). ``RacingConfirmation`` (``scheme:
racing``) gives the same seeds out one a round instead, as the race of ``sweeps.racing``
decides from the study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from optuna.trial import FrozenTrial, TrialState

from results.ratios import PURE_STBP, Shares, fractions, has_stdp, ratio_key
from results.runs import accuracy, is_full_run, params_key
from results.schema import CONTROL_OVERRIDES, ROLE_CONFIRM, ROLE_CONTROL, ROLE_STBP_BASELINE

from .racing import RaceState, race
from .spec import SweepSpec

Identity = tuple[Shares, str, int, str]


def identity(
    ratio: Any, seed: int, overrides: dict[str, Any], params: dict[str, Any]
) -> Identity:
    """What makes two runs the same run: ratio, searched params, seed, what they change."""
    return ratio_key(ratio), params_key(params), int(seed), params_key(overrides)


def identity_of(t: FrozenTrial) -> Identity:
    a = t.user_attrs
    return identity(a["ratio"], a["seed"], a.get("overrides") or {}, searched(t))


def searched(t: FrozenTrial) -> dict[str, Any]:
    """The trial's searched ``TrainConfig`` values ({} for none)."""
    return dict(t.user_attrs.get("params") or {})


@dataclass(frozen=True)
class ConfirmRun:
    """One confirmation trial: a ratio on a seed, as a role, with config overrides.

    ``source`` is the searched trial whose parameters it re-runs (None: the fixed
    ``ratio``, which need not lie inside the searched space).
    """

    role: str
    ratio: Shares
    seed: int
    source: FrozenTrial | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> Identity:
        searched_params = searched(self.source) if self.source is not None else {}
        return identity(self.ratio, self.seed, self.overrides, searched_params)

    @property
    def params(self) -> dict[str, Any]:
        """The Optuna parameters it is enqueued with: its source trial's, ratio included."""
        return dict(self.source.params) if self.source is not None else {}

    def user_attrs(self) -> dict[str, Any]:
        """The attributes it is enqueued with (``RatioSpace`` reads them)."""
        return {
            "stage": "confirm",
            "role": self.role,
            "seed": self.seed,
            "ratio": list(self.ratio),
            "confirms": self.source.number if self.source is not None else None,
            "overrides": self.overrides,
        }


@dataclass(frozen=True)
class Confirmation:
    """The spec's confirmation stage: ``top_k`` ratios, the extra ``seeds``, the search seed,
    and whether the top ratios' frozen ``controls`` run."""

    top_k: int
    seeds: tuple[int, ...]
    search_seed: int
    controls: bool = False
    # Whether runs still running can lead to more (a race's next round): the searcher
    # then waits rather than finishing.
    in_rounds: ClassVar[bool] = False

    @classmethod
    def of(cls, spec: SweepSpec) -> Confirmation | None:
        """The spec's stage: this fixed scheme, or the race (``sweeps.racing``)."""
        c = spec.search.confirm
        if c is None:
            return None
        base = spec.train.seed
        seeds = tuple(base + i for i in range(1, c.seeds + 1))
        if c.scheme == "racing":
            return RacingConfirmation(c.top_k, seeds, base, c.controls, c.racing_budget)
        return cls(c.top_k, seeds, base, c.controls)

    def plan(
        self, search: list[FrozenTrial], pending: int = 0, confirms: list[FrozenTrial] = ()
    ) -> list[ConfirmRun]:
        """Every confirmation run that is certain now: the top ratios', their frozen
        controls, then pure STBP's (``confirms``, the confirmation trials so far, only
        matter to the race).

        With ``pending`` search trials still running, only the ratios ranked above
        ``top_k − pending`` are certain to stay in the top ``k`` (each running trial can
        push out at most one), so their runs can start now, filling slots that would
        otherwise idle until the last search trial ends, and confirm exactly what waiting
        would have. Pure STBP's extra seeds are certain from the start.
        """
        top = self._top(search, self.top_k - pending)
        confirms = [
            ConfirmRun(ROLE_CONFIRM, fractions(t.user_attrs["ratio"]), seed, source=t)
            for t in top
            for seed in self.seeds
        ]
        return confirms + self._controls(top) + self._stbp(search)

    def _controls(self, top: list[FrozenTrial]) -> list[ConfirmRun]:
        """Each top ratio's frozen twin on all its seeds (none for a ratio without STDP)."""
        if not self.controls:
            return []
        return [
            ConfirmRun(ROLE_CONTROL, ratio, seed, source=t, overrides=dict(CONTROL_OVERRIDES))
            for t in top
            if has_stdp(ratio := fractions(t.user_attrs["ratio"]))
            for seed in (self.search_seed, *self.seeds)
        ]

    def missing(self, trials: list[FrozenTrial]) -> list[ConfirmRun]:
        """The runs of the finished search's plan that are not in the study."""
        started = [t for t in trials if t.state != TrialState.WAITING]
        search = [t for t in started if t.user_attrs.get("stage", "search") == "search"]
        have = {identity_of(t) for t in started if t.user_attrs.get("stage") == "confirm"}
        return [run for run in self.plan(search) if run.identity not in have]

    def _top(self, search: list[FrozenTrial], keep: int) -> list[FrozenTrial]:
        """The best ``keep`` searched configs (ratio and searched params), one trial each:
        full runs first, then by validation accuracy (the search measured each once)."""
        if keep <= 0:
            return []
        done = [t for t in search if t.state == TrialState.COMPLETE and t.values]
        done.sort(key=lambda t: (bool(t.user_attrs.get("full_run")), accuracy(t)), reverse=True)
        best, seen = [], set()
        for t in done:
            key = (ratio_key(t.user_attrs["ratio"]), params_key(searched(t)))
            if key not in seen:
                seen.add(key)
                best.append(t)
        return best[:keep]

    def _stbp(self, search: list[FrozenTrial]) -> list[ConfirmRun]:
        """Pure STBP at the spec's own settings on the extra seeds, and on the search seed
        unless the search ran it there to the end with no searched params (undecided while
        that search trial still runs)."""
        seeds = list(self.seeds)
        stbp = ratio_key(PURE_STBP)
        same = [
            t
            for t in search
            if "ratio" in t.user_attrs
            and ratio_key(t.user_attrs["ratio"]) == stbp
            and not searched(t)
        ]
        finished = not any(t.state == TrialState.RUNNING for t in same)
        if finished and not any(is_full_run(t) for t in same):
            seeds.insert(0, self.search_seed)
        return [ConfirmRun(ROLE_STBP_BASELINE, PURE_STBP, seed) for seed in seeds]


@dataclass(frozen=True)
class RacingConfirmation(Confirmation):
    """The confirmation stage as a race (spec ``confirm.scheme: racing``): the top
    ``top_k`` ratios, the extra ``seeds`` given out one a round, at most ``budget`` runs.

    Pure STBP runs on the seeds the race has given out (and the search seed, as in the
    fixed scheme), and with ``controls`` the winner's frozen twin runs on its seeds once
    the race is over. The race starts when the search has ended.
    """

    budget: int = 0
    in_rounds: ClassVar[bool] = True

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
