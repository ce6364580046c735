"""ASHA's rung rule, decided in trial order rather than arrival order.

ASHA (Li et al. 2020) cuts a trial at a rung when its accuracy there is below the
``1 − 1/η`` quantile of the accuracies *recorded at that rung so far*. "So far" is arrival
order: which trials reached the rung first depends on machine load, so the same sweep on
the same commit cut different ratios on different runs (issue 24: 1:4:1 one day, 0:0:1 the
next).

Here trial ``k`` (its Optuna number) is compared with the trials numbered before it that
reached the rung, and with nothing else; it waits until each of them has either reached
the rung or ended below it. Trials are started in number order, so the earlier ones are
almost always there first and the wait is rare. Given the same per-epoch accuracies, every
cut is the same whatever order the results arrive in.

While it waits, a trial trains on (its rung value is kept), so no slot idles; only a trial
that would finish before its decision is paused at its last epoch but one. The price is
the epochs a later-cut trial trained while waiting, and those pauses (``bench_search``
measures both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONTINUE, STOP, WAIT = "continue", "stop", "wait"


def milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The rung epochs, ascending: ``grace · η^k`` below ``max_t`` (as Ray's ASHA)."""
    out, k = [], 0
    while (m := grace_period * reduction_factor**k) < max_t:
        out.append(int(m))
        k += 1
    return out


@dataclass
class OrderedRungs:
    """The rung values of the search trials and the decisions on them, by trial order."""

    grace_period: int
    reduction_factor: float
    max_t: int
    # trial order -> {milestone: accuracy there}
    values: dict[int, dict[int, float]] = field(default_factory=dict)
    # trial order -> the last epoch it trained, once it has ended (cut, failed, done)
    ended: dict[int, int] = field(default_factory=dict)

    @property
    def rungs(self) -> list[int]:
        return milestones(self.grace_period, self.reduction_factor, self.max_t)

    def add(self, order: int) -> None:
        self.values.setdefault(order, {})

    def record(self, order: int, curve: list[float]) -> None:
        """The trial's accuracies by epoch (``curve[e − 1]`` at epoch ``e``) so far."""
        rungs = self.values.setdefault(order, {})
        for m in self.rungs:
            if m <= len(curve):
                rungs.setdefault(m, curve[m - 1])

    def end(self, order: int, epoch: int) -> None:
        self.ended.setdefault(order, epoch)

    def decide(self, order: int) -> str:
        """CONTINUE, STOP at the first rung it falls below, or WAIT for an earlier trial."""
        verdicts = self._verdicts()
        for m in self.rungs:
            verdict = verdicts.get((order, m), CONTINUE)
            if verdict != CONTINUE or (order, m) not in verdicts:
                return verdict
        return CONTINUE

    def cut_at(self, order: int) -> int | None:
        """The rung the trial is cut at (None: not cut, or not decided yet)."""
        verdicts = self._verdicts()
        return next((m for m in self.rungs if verdicts.get((order, m)) == STOP), None)

    def _verdicts(self) -> dict[tuple[int, int], str]:
        """(trial, rung) -> its verdict there, for every trial that reached the rung having
        passed the ones below; rung by rung, in trial order.

        A trial cut at a rung still counts there for the trials after it (as in ASHA); one
        still short of a rung, or waiting on a rung below, makes every later trial wait.
        """
        verdicts: dict[tuple[int, int], str] = {}
        below: int | None = None
        cut: set[int] = set()
        for m in self.rungs:
            recorded: list[float] = []
            blocked = False
            for j in sorted(self.values):
                passed = below is None or verdicts.get((j, below)) == CONTINUE
                if m in self.values[j] and passed:
                    if blocked:
                        verdicts[j, m] = WAIT
                        continue
                    stop = recorded and self.values[j][m] < np.nanpercentile(
                        recorded, (1 - 1 / self.reduction_factor) * 100
                    )
                    verdicts[j, m] = STOP if stop else CONTINUE
                    recorded.append(self.values[j][m])
                    if stop:
                        cut.add(j)
                elif j not in cut and not (m not in self.values[j] and self.ended.get(j, m) < m):
                    blocked = True  # not cut, not ended short of m: it may still count here
            below = m
        return verdicts
