"""The one best-ratio rule: rank ratios by the lower 95% confidence bound of their accuracy.

Every answer to "which ratio is best?" — the end-of-sweep summary, ``biril best``,
``analysis.best_ratio`` and the report — is ``rank(runs)`` on the full runs of the store.

**The rule.** Runs of one ratio within one sweep are pooled over seeds (runs sharing a seed
averaged first, so a seed repeated in both stages counts once). A ratio with ``n`` seeds
and mean validation accuracy ``m`` gets the 95% t-interval ``m ± t(0.975, df)·s/√n``, and
ratios are ranked by its lower end. ``s`` is the run-to-run standard deviation of the sweep:

- the within-ratio SD pooled over every ratio of the sweep that ran two or more seeds
  (``df`` = the sum of their ``n − 1``), so a ratio measured once gets an interval as wide
  as the seed-to-seed spread seen in that sweep — a single lucky run cannot outrank a
  ratio confirmed over several seeds unless it beats it by more than that spread;
- but never less than the binomial standard error of an accuracy on the validation set,
  ``√(p(1−p)/N)`` (``N`` validation images, ``p`` the sweep's best mean, shrunk towards
  ½ by one image each way so a perfect score still has an error). With two or three seeds
  per ratio the pooled SD rests on few numbers on a discrete scale — two seeds that land on
  the same count of correct images give SD 0 — and a set of ``N`` images cannot tell apart
  accuracies closer than its own sampling error anyway;
- with no multi-seed ratio the floor alone is used, with the normal quantile (``df = ∞``).

One pooled ``s`` per sweep, rather than each ratio's own SD, is what a confirmation stage
of 2–3 seeds can support: a 3-seed SD is itself uncertain by ±50%, and the confirmed ratios
(the top ones and pure STBP) are where the spread is measured.

**Which runs pool.** A ratio's runs pool when they also share their searched params (spec
``search.params``, e.g. ``stdp_lr``): a ratio at two step sizes is two configs, each ranked
on its own, and the answer names the params it was best with. A confirmation run re-runs
its source trial's params, so it pools with it. Runs with ``overrides`` (the frozen control)
measure another config at the same ratio and are never ranked: the best's ``stdp_effect``
(``results.effect``) compares it with its control, seed by seed.

**How sure.** The best is compared with every other config (``results.compare``): paired
by seed where the two share two or more seeds of one sweep (the confirmation stage runs the
top ratios and pure STBP on the same seeds), else the t-test of their means (standard error
``√(s_a²/n_a + s_b²/n_b)``, the smaller of their ``df``). The p-values against the best are
Holm-adjusted over all those comparisons; ``indistinguishable`` lists the configs whose
adjusted p is at least 0.05. ``vs_stbp`` is the same test of the best against pure STBP
``0:1:0`` of its sweep, pure STBP being one of those configs, with the same adjusted p
(so the verdict and the list of ties never disagree). Each says whether it was
``paired``; ``p_unadjusted`` keeps the test's own p.

**Intervals stay in [0, 1]** (``compare.within_unit``): an accuracy above 100% is not a
plausible value, so the t-interval is cut there, the same in the summary, the report and
the JSON; the ranking's score (the lower end) is unchanged.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .compare import Gap, holm, paired_gap, shared_seed_diffs, unpaired_gap, within_unit
from .effect import StdpEffect, stdp_effects
from .ratios import PURE_STBP, Shares, closest_int_ratio, has_stdp, ratio_key
from .runs import Config, Run, config_of, mean, params_key, probe_means, seed_means
from .schema import PROBE_POOLS
from .tdist import t_quantile

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE


def params_text(params: dict[str, Any]) -> str:
    """Searched params as people read them: ``stdp_lr 0.0123, lr 0.002``."""
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(params.items())
    )


def label(ratio_int: str, params: dict[str, Any]) -> str:
    """A config as people read it: ``1:6:2``, or ``1:6:2 (stdp_lr 0.0123)``."""
    return f"{ratio_int} ({params_text(params)})" if params else ratio_int


class RatioStats(BaseModel):
    """One ratio of one sweep, pooled over its seeds; ``score`` is what the rule ranks by."""

    dataset: str
    sweep: str
    study: str
    ratio: Shares
    ratio_int: str
    # The searched TrainConfig values it ran with ({} when the spec searches none).
    params: dict[str, Any] = {}
    n_seeds: int
    seeds: list[int]
    val_acc: float
    ci: tuple[float, float] | None
    score: float | None
    test_acc: float | None
    energy_pj_per_sample: float | None
    # The linear probe's validation accuracy per pooling, mean over the seeds that fitted
    # one ({} where none did; ``results.schema.PROBE_POOLS``).
    probe: dict[str, float] = {}
    # The ratio's best single run by validation accuracy (the one to load).
    trial_number: int | None
    trial_id: str | None
    checkpoint: str | None

    @property
    def config(self) -> Config:
        return config_of(self.study, self.ratio, self.params)


class Standing(RatioStats):
    """A ratio in the ranking; ``p_vs_best`` (Holm-adjusted) is None for the best itself."""

    p_vs_best: float | None = None
    # The test of its gap to the best before Holm's adjustment, and whether it was paired.
    p_unadjusted: float | None = None
    paired: bool | None = None

    @property
    def indistinguishable(self) -> bool:
        """Its gap to the best is not significant at 95% (False for the best itself)."""
        return self.p_vs_best is not None and self.p_vs_best >= ALPHA


class Peer(BaseModel):
    """A ratio that cannot be told apart from the best."""

    ratio: Shares
    ratio_int: str
    params: dict[str, Any] = {}
    study: str
    n_seeds: int
    val_acc: float
    ci: tuple[float, float] | None
    # Holm-adjusted over every comparison with the best; the test's own p beside it.
    p: float
    p_unadjusted: float
    # Paired by seed on the seeds both ran (True), or the unpaired test of the means.
    paired: bool


class VsSTBP(BaseModel):
    """The best ratio minus pure STBP of its sweep: difference of means, its 95% CI, p."""

    diff: float
    ci: tuple[float, float]
    p: float
    n_seeds: int
    val_acc: float
    # Holm-adjusted as pure STBP's standing is (``p``), and the test's own p.
    p_unadjusted: float
    # Paired by seed over ``n_pairs`` shared seeds, or (False, None) the unpaired test.
    paired: bool
    n_pairs: int | None = None


class Best(RatioStats):
    """The answer to "which ratio is best, and how sure are we" (``biril best --json``)."""

    val_size: int | None
    sd: float | None
    indistinguishable: list[Peer]
    vs_stbp: VsSTBP | None
    verdict: str
    # STDP minus its frozen control at this config, paired by seed (None: no control ran).
    stdp_effect: StdpEffect | None

    def describe(self) -> list[str]:
        """The answer in words, the same in the sweep summary and ``biril best``."""
        shares = " : ".join(f"{x:.3f}" for x in self.ratio)
        ci = f" [{100 * self.ci[0]:.2f}, {100 * self.ci[1]:.2f}]" if self.ci else ""
        seeds = f"{self.n_seeds} seed{'s' if self.n_seeds != 1 else ''}"
        images = f", {self.val_size} validation images" if self.val_size else ""
        test = f", test {100 * self.test_acc:.2f}%" if self.test_acc is not None else ""
        peers = ", ".join(f"{label(p.ratio_int, p.params)} (p {p.p:.2f}"
                          f"{'' if p.paired else ', unpaired'})" for p in self.indistinguishable)
        params = [f"params       {params_text(self.params)} (searched with the ratio)"]
        return [
            f"best ratio   {self.ratio_int} (STDP : STBP : STDP-STBP = {shares}), "
            f"sweep {self.sweep}",
            f"             val {100 * self.val_acc:.2f}%{ci} (mean, 95% CI) over {seeds}"
            f"{images}{test}",
            *(params if self.params else []),
            *([f"probe        {self.probe_text()}"] if self.probe else []),
            f"tied with    {peers or 'none: every other ratio is significantly below it'}"
            f"{' (Holm-adjusted p)' if peers else ''}",
            f"vs STBP      {self.verdict}",
            f"stdp effect  {self.effect_text()}",
        ]

    def probe_text(self) -> str:
        """The linear probe's accuracy per pooling: ``gap 54.20%, pool4 85.50% (...)``."""
        pools = ", ".join(f"{pool} {100 * acc:.2f}%" for pool, acc in self.probe.items())
        return f"{pools} (linear probe of the last block, mean over seeds)"

    def effect_text(self) -> str:
        """What STDP adds here against its frozen control, or why that is not measured."""
        if self.stdp_effect is not None:
            return self.stdp_effect.describe()
        if not has_stdp(self.ratio):
            return f"none: {self.ratio_int} runs no STDP iterations, so it has no frozen twin"
        return (
            f"not measured: no frozen control ran at {self.ratio_int} "
            "(search.confirm.controls: true runs one for each confirmed ratio)"
        )


@dataclass(frozen=True)
class Noise:
    """A sweep's run-to-run SD ``sd`` (None: unknown) with its degrees of freedom."""

    sd: float | None
    df: float
    val_size: int | None


@dataclass
class Ranking:
    """Every ratio that competed, best first by the rule, and the answer built on it."""

    standings: list[Standing]
    best: Best | None
    noise: dict[str, Noise]


def rank(runs: Iterable[Run], max_energy: float | None = None) -> Ranking:
    """Rank the configs of these full runs by the rule (module docstring); the best first.

    ``max_energy`` (pJ per validation sample): only ratios whose mean energy is within it
    compete (the noise is still measured on every ratio of the sweep). Variant runs
    (``overrides``) are not ranked; the frozen controls among them give ``stdp_effect``.
    """
    runs = list(runs)
    groups: dict[Config, list[Run]] = defaultdict(list)
    for run in runs:
        if not run.overrides:
            groups[config_of(run.study, run.ratio, run.params)].append(run)
    per_seed = {key: seed_means(group) for key, group in groups.items()}
    seeds_of: dict[str, list[dict[int, float]]] = defaultdict(list)
    runs_of: dict[str, list[Run]] = defaultdict(list)
    for key, group in groups.items():
        seeds_of[key[0]].append(per_seed[key])
        runs_of[key[0]].extend(group)
    noise = {study: _noise(seeds_of[study], runs_of[study]) for study in seeds_of}
    standings = [_standing(group, per_seed[key], noise[key[0]]) for key, group in groups.items()]
    if max_energy is not None:
        standings = [
            s
            for s in standings
            if s.energy_pj_per_sample is not None and s.energy_pj_per_sample <= max_energy
        ]
    standings.sort(key=_order, reverse=True)
    if not standings:
        return Ranking([], None, noise)
    top = standings[0]
    compare = _Comparer(noise, per_seed)
    tested = [(s, gap) for s in standings[1:] if (gap := compare(top, s)) is not None]
    for (other, gap), p in zip(tested, holm([g.p for _, g in tested]), strict=True):
        other.p_vs_best, other.p_unadjusted, other.paired = p, gap.p, gap.paired
    stbp = _stbp_config(per_seed, top.study)
    stbp_standing = (
        _standing(groups[stbp], per_seed[stbp], noise[top.study]) if stbp else None
    )
    effect = next((e.effect for e in stdp_effects(runs) if e.config == top.config), None)
    return Ranking(standings, _best(top, standings, stbp_standing, compare, effect), noise)


def _stbp_config(per_seed: dict[Config, dict[int, float]], study: str) -> Config | None:
    """Pure STBP of the sweep: at the spec's own settings (no searched params) where it ran
    there, which is how the confirmation stage runs it; else its config with most seeds."""
    stbp = [k for k in per_seed if k[0] == study and k[1] == ratio_key(PURE_STBP)]
    if not stbp:
        return None
    return max(stbp, key=lambda k: (k[2] == params_key({}), len(per_seed[k])))


def _noise(seed_means: list[dict[int, float]], runs: list[Run]) -> Noise:
    """The sweep's run-to-run SD: pooled over multi-seed ratios, floored by the val set."""
    squares, df = 0.0, 0
    for seeds in seed_means:
        if len(seeds) > 1:
            m = mean(seeds.values())
            squares += sum((v - m) ** 2 for v in seeds.values())
            df += len(seeds) - 1
    sizes = [r.val_size for r in runs if r.val_size]
    val_size = max(sizes) if sizes else None
    floor = 0.0
    if val_size:
        top = max(mean(seeds.values()) for seeds in seed_means)
        p = (top * val_size + 1) / (val_size + 2)
        floor = math.sqrt(p * (1 - p) / val_size)
    sd = max(math.sqrt(squares / df) if df else 0.0, floor)
    return Noise(sd=sd or None, df=float(df) if df else math.inf, val_size=val_size)


def _standing(group: list[Run], seeds: dict[int, float], noise: Noise) -> Standing:
    first = group[0]
    n = len(seeds)
    m = mean(seeds.values())
    ci = None
    if noise.sd is not None:
        half = t_quantile(1 - ALPHA / 2, noise.df) * noise.sd / math.sqrt(n)
        ci = within_unit((m - half, m + half))
    tests = [r.test_acc for r in group if r.test_acc is not None]
    energies = [r.energy_pj_per_sample for r in group if r.energy_pj_per_sample is not None]
    top_run = max(group, key=lambda r: r.val_acc)
    return Standing(
        dataset=first.dataset,
        sweep=first.sweep,
        study=first.study,
        ratio=first.ratio,
        ratio_int=closest_int_ratio(first.ratio),
        params=first.params,
        n_seeds=n,
        seeds=list(seeds),
        val_acc=m,
        ci=ci,
        score=ci[0] if ci else None,
        test_acc=mean(tests) if tests else None,
        energy_pj_per_sample=mean(energies) if energies else None,
        probe={
            pool: mean(means.values()) for pool in PROBE_POOLS
            if (means := probe_means(group, pool))
        },
        trial_number=top_run.trial_number,
        trial_id=top_run.trial_id,
        checkpoint=top_run.checkpoint,
    )


def _order(s: Standing) -> tuple:
    """The rule: the lower confidence bound (the mean where the noise is unknown)."""
    return (s.score if s.score is not None else s.val_acc, s.val_acc, s.n_seeds, s.ratio)


class _Comparer:
    """``a`` minus ``b`` (``results.compare``): paired on the seeds both ran where they are
    of one sweep and share two or more, else unpaired on the pooled SD; None when the
    noise is unknown."""

    def __init__(self, noise: dict[str, Noise], per_seed: dict[Config, dict[int, float]]):
        self.noise = noise
        self.per_seed = per_seed

    def __call__(self, a: Standing, b: Standing) -> Gap | None:
        na, nb = self.noise[a.study], self.noise[b.study]
        if a.study == b.study:
            diffs = shared_seed_diffs(self.per_seed[a.config], self.per_seed[b.config])
            image = 1 / na.val_size if na.val_size else 0.0
            if (gap := paired_gap(diffs, floor=image)) is not None:
                return gap
        if na.sd is None or nb.sd is None:
            return None
        se = math.sqrt(na.sd**2 / a.n_seeds + nb.sd**2 / b.n_seeds)
        return unpaired_gap(a.val_acc - b.val_acc, se, min(na.df, nb.df))


def _best(
    top: Standing,
    standings: list[Standing],
    stbp: Standing | None,
    compare: _Comparer,
    effect: StdpEffect | None,
) -> Best:
    peers = [
        Peer(
            ratio=s.ratio,
            ratio_int=s.ratio_int,
            params=s.params,
            study=s.study,
            n_seeds=s.n_seeds,
            val_acc=s.val_acc,
            ci=s.ci,
            p=s.p_vs_best,
            p_unadjusted=s.p_unadjusted,
            paired=s.paired,
        )
        for s in standings[1:]
        if s.indistinguishable
    ]
    vs_stbp = None
    if stbp is not None and ratio_key(top.ratio) != ratio_key(PURE_STBP):
        gap = compare(top, stbp)
        if gap is not None:
            ranked = [s.p_vs_best for s in standings if s.config == stbp.config]
            p = ranked[0] if ranked and ranked[0] is not None else gap.p
            vs_stbp = VsSTBP(
                diff=gap.diff, ci=gap.ci, p=p, p_unadjusted=gap.p, n_seeds=stbp.n_seeds,
                val_acc=stbp.val_acc, paired=gap.paired, n_pairs=gap.n_pairs,
            )
    noise = compare.noise
    verdict = _verdict(top, stbp, vs_stbp, standings, compare)
    return Best(
        **top.model_dump(exclude={"p_vs_best", "p_unadjusted", "paired"}),
        val_size=noise[top.study].val_size,
        sd=noise[top.study].sd,
        indistinguishable=peers,
        vs_stbp=vs_stbp,
        verdict=verdict,
        stdp_effect=effect,
    )


def _alone(p: float, unadjusted: float) -> str:
    """`` (Holm; 0.03 alone)`` where Holm's correction raised the p, else nothing."""
    return f" (Holm; {unadjusted:.2g} alone)" if p > unadjusted else ""


def _verdict(
    top: Standing,
    stbp: Standing | None,
    vs: VsSTBP | None,
    standings: list[Standing],
    compare: _Comparer,
) -> str:
    """The answer to "does it beat plain STBP here?" in plain words."""
    if compare.noise[top.study].sd is None:
        return (
            "how sure: unknown (no ratio ran two seeds and the validation-set size was not "
            "recorded)"
        )
    if stbp is None:
        return f"pure STBP 0:1:0 has no full run in sweep {top.sweep}: no baseline to compare"
    if vs is None:
        return "pure STBP 0:1:0 ranks first: no ratio beat it"
    over = (
        f"paired over {vs.n_pairs} shared seeds" if vs.paired
        else f"unpaired, over {top.n_seeds} and {vs.n_seeds} seeds"
    )
    gap = (
        f"{100 * vs.diff:+.2f} points, 95% CI [{100 * vs.ci[0]:+.2f}, {100 * vs.ci[1]:+.2f}], "
        f"p = {vs.p:.2g}{_alone(vs.p, vs.p_unadjusted)}, {over}"
    )
    if vs.p < ALPHA:
        word = "beats" if vs.diff > 0 else "is below"
        return f"{top.ratio_int} {word} pure STBP 0:1:0 ({gap})"
    # Every config of the sweep against pure STBP, Holm-adjusted over that family too.
    gaps = [g for s in standings if s.study == stbp.study and (g := compare(s, stbp))]
    beats = [g for g, p in zip(gaps, holm([g.p for g in gaps]), strict=True)
             if g.diff > 0 and p < ALPHA]
    if not beats:
        return (
            f"nothing is distinguishable from pure STBP 0:1:0 at 95%: the best ratio "
            f"{top.ratio_int} is {gap}"
        )
    return (
        f"the best ratio {top.ratio_int} is not distinguishable from pure STBP 0:1:0 at 95% "
        f"({gap}); {len(beats)} other ratio(s) beat it"
    )
