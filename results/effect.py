"""What STDP adds at a ratio: its runs minus their frozen controls, paired by seed.

A confirmed ratio's frozen twin (``schema.CONTROL_OVERRIDES``: ``stdp_lr`` 0, so the same
schedule runs with the conv weights untouched in STDP iterations) runs with the same seeds
and searched params (spec ``search.confirm.controls``). A seed fixes the initial weights and
the order of the batches, so the two runs of one seed differ only by what STDP did, and the
seed-to-seed spread — on digits as large as the effect — cancels in each difference.

``diff`` is the mean over the ``n`` shared seeds of STDP minus control validation accuracy;
``ci`` the paired 95% t interval ``diff ± t(0.975, n − 1) · sd / √n`` of those differences
(``results.compare.paired_gap``, ``sd`` at least one validation image; None with a single
pair: one difference has no spread).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from statistics import mean
from typing import Any

from pydantic import BaseModel

from .compare import paired_gap, shared_seed_diffs
from .ratios import Shares, closest_int_ratio
from .runs import Config, Run, config_of, seed_means
from .schema import CONTROL_OVERRIDES


class StdpEffect(BaseModel):
    """STDP minus its frozen control: mean paired difference, its 95% CI, number of pairs."""

    diff: float
    ci: tuple[float, float] | None
    n: int

    def ci_text(self) -> str:
        """The interval in points, ``[-1.07, +2.92]`` (``—`` for none)."""
        return "—" if self.ci is None else f"[{100 * self.ci[0]:+.2f}, {100 * self.ci[1]:+.2f}]"

    def describe(self) -> str:
        """In words, as the summary and ``biril best`` print it."""
        ci = f", 95% CI {self.ci_text()}" if self.ci else " (one seed: no interval)"
        seeds = f"{self.n} seed{'s' if self.n != 1 else ''}"
        return f"{100 * self.diff:+.2f} points{ci}, over {seeds} (STDP minus frozen control)"


class ConfigEffect(BaseModel):
    """What STDP adds at one config: a ratio of a sweep, at its searched params."""

    study: str
    sweep: str
    ratio: Shares
    ratio_int: str
    params: dict[str, Any]
    effect: StdpEffect

    @property
    def config(self) -> Config:
        return config_of(self.study, self.ratio, self.params)


def stdp_effects(runs: Iterable[Run]) -> list[ConfigEffect]:
    """STDP minus frozen control at every config whose controls ran on a seed it ran too."""
    stdp: dict[Config, list[Run]] = defaultdict(list)
    control: dict[Config, list[Run]] = defaultdict(list)
    for run in runs:
        key = config_of(run.study, run.ratio, run.params)
        if not run.overrides:
            stdp[key].append(run)
        elif run.overrides == CONTROL_OVERRIDES:
            control[key].append(run)
    out = []
    for key, frozen in control.items():
        effect = _paired(stdp.get(key, []), frozen)
        if effect is not None:
            first = stdp[key][0]
            out.append(ConfigEffect(
                study=first.study, sweep=first.sweep, ratio=first.ratio,
                ratio_int=closest_int_ratio(first.ratio), params=first.params, effect=effect,
            ))
    return out


def _paired(stdp: list[Run], control: list[Run]) -> StdpEffect | None:
    """The paired effect of STDP over the seeds both sides ran (None: no shared seed).

    Runs sharing a seed on one side are averaged first, as in the ranking.
    """
    diffs = shared_seed_diffs(seed_means(stdp), seed_means(control))
    if not diffs:
        return None
    sizes = [r.val_size for r in (*stdp, *control) if r.val_size]
    gap = paired_gap(diffs, floor=1 / max(sizes) if sizes else 0.0)
    return StdpEffect(diff=mean(diffs), ci=gap.ci if gap else None, n=len(diffs))
