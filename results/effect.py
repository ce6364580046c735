"""What STDP adds at a ratio: its runs minus their frozen controls, paired by seed.

A confirmed ratio's frozen twin (``schema.CONTROL_OVERRIDES``: ``stdp_lr`` 0, so the same
schedule runs with the conv weights untouched in STDP iterations) runs with the same seeds
and searched params (spec ``search.confirm.controls``). A seed fixes the initial weights and
the order of the batches, so the two runs of one seed differ only by what STDP did, and the
seed-to-seed spread — on digits as large as the effect — cancels in each difference.

``diff`` is the mean over the ``n`` shared seeds of STDP minus control validation accuracy;
``ci`` the paired 95% t interval ``diff ± t(0.975, n − 1) · sd / √n`` of those differences
(None with a single pair: one difference has no spread).

Where both sides fitted the linear probe of the last block (``schema.PROBE_POOLS``), the
same paired effect of its accuracy is ``probe[pool]``: what STDP did to the features, apart
from how well the head learned on them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from statistics import mean, stdev
from typing import Any

from pydantic import BaseModel

from .ratios import Shares, closest_int_ratio
from .runs import Config, Run, config_of, probe_means, seed_means
from .schema import CONTROL_OVERRIDES, PROBE_POOLS
from .tdist import t_quantile

CONFIDENCE = 0.95


class PairedDiff(BaseModel):
    """A paired difference over seeds: its mean, 95% CI and number of pairs."""

    diff: float
    ci: tuple[float, float] | None
    n: int

    def ci_text(self) -> str:
        """The interval in points, ``[-1.07, +2.92]`` (``—`` for none)."""
        return "—" if self.ci is None else f"[{100 * self.ci[0]:+.2f}, {100 * self.ci[1]:+.2f}]"


class StdpEffect(PairedDiff):
    """STDP minus its frozen control in validation accuracy, and in the linear probe's
    accuracy per pooling where both sides fitted one (``probe``: {} where they did not)."""

    probe: dict[str, PairedDiff] = {}

    def describe(self) -> str:
        """In words, as the summary and ``biril best`` print it."""
        ci = f", 95% CI {self.ci_text()}" if self.ci else " (one seed: no interval)"
        seeds = f"{self.n} seed{'s' if self.n != 1 else ''}"
        text = f"{100 * self.diff:+.2f} points{ci}, over {seeds} (STDP minus frozen control)"
        if self.probe:
            pools = ", ".join(
                f"{pool} {100 * p.diff:+.2f} {p.ci_text()}" for pool, p in self.probe.items()
            )
            text += f"; linear probe: {pools}"
        return text


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
        accuracy = _paired(seed_means(stdp.get(key, [])), seed_means(frozen))
        if accuracy is not None:
            probe = {
                pool: diff for pool in PROBE_POOLS
                if (diff := _paired(probe_means(stdp[key], pool), probe_means(frozen, pool)))
            }
            effect = StdpEffect(**accuracy.model_dump(), probe=probe)
            first = stdp[key][0]
            out.append(ConfigEffect(
                study=first.study, sweep=first.sweep, ratio=first.ratio,
                ratio_int=closest_int_ratio(first.ratio), params=first.params, effect=effect,
            ))
    return out


def _paired(a: dict[int, float], b: dict[int, float]) -> PairedDiff | None:
    """The paired effect of STDP over the seeds both sides ran (None: no shared seed).

    ``a`` and ``b``: a value per seed of the STDP runs and of their controls, runs sharing
    a seed on one side averaged first (``seed_means``), as in the ranking.
    """
    diffs = [a[seed] - b[seed] for seed in sorted(a.keys() & b.keys())]
    if not diffs:
        return None
    d = mean(diffs)
    n = len(diffs)
    ci = None
    if n > 1:
        half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * stdev(diffs) / math.sqrt(n)
        ci = (d - half, d + half)
    return PairedDiff(diff=d, ci=ci, n=n)

