"""``SweepSummary``: what a finished (or interrupted) sweep found, read back from its study.

The best ratio is the one rule of ``results.ranking`` applied to the study's full runs, so
it is the answer ``biril best`` and the report give for this sweep: ranked by the lower
95% bound of the mean validation accuracy over seeds, with the ratios it cannot be told
apart from, its gap to pure STBP, and what STDP adds there against its frozen control
(``stdp_effect``, where the confirmation stage ran ``controls``).

A two-objective sweep (``objective: accuracy_energy``) adds what it was run for: the
Pareto front of its full runs, and pure STBP against the best ratio (by the same rule)
that costs at most 80% of its energy — "how much accuracy does a fifth of the energy cost?".
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel

from results.effect import ConfigEffect, stdp_effects
from results.layout import split_study_name
from results.pareto import non_dominated
from results.ranking import Best, Standing, label, rank
from results.ratios import PURE_STBP, ratio_key
from results.runs import Run, run_of

from .confirm import Confirmation
from .grow import Growth

# The budget the summary compares pure STBP against, as a share of its energy.
BUDGET_SHARE = 0.8


class EnergyPoint(BaseModel):
    """A run's (or a ratio's mean) validation accuracy and energy per validation sample."""

    ratio: list[float]
    val_acc: float
    energy_pj_per_sample: float

    def render(self) -> str:
        shares = " : ".join(f"{x:.3f}" for x in self.ratio)
        return f"{shares}  val {100 * self.val_acc:.2f}%  {self.energy_pj_per_sample / 1e3:.1f} nJ"


class SweepSummary(BaseModel):
    """One sweep's outcome; ``--json`` prints exactly this."""

    sweep: str
    dataset: str
    study: str
    storage: str
    results_dir: str
    best: Best | None
    # STDP minus its frozen control at every confirmed ratio whose controls ran (the
    # best's is also best.stdp_effect).
    stdp_effects: list[ConfigEffect]
    n_trials: int
    n_completed: int
    n_stopped: int
    n_failed: int
    complete: bool
    wall_seconds: float
    # A finished sweep re-run with a larger budget: what grew, and the trials it added.
    grown: str | None = None
    n_added: int = 0
    # The spec's stop.time_budget ran out before the sweep did (resume to go on).
    stopped_on_budget: bool = False
    # objective: accuracy_energy only (None otherwise). The full runs on the Pareto front,
    # cheapest first; pure STBP (mean of its full runs); the best ratio (the one rule)
    # under BUDGET_SHARE of pure STBP's energy.
    pareto_front: list[EnergyPoint] | None = None
    stbp_baseline: EnergyPoint | None = None
    best_under_budget: EnergyPoint | None = None

    def render(self) -> str:
        """The human-readable end summary."""
        status = (
            "finished" if self.complete
            else "STOPPED ON BUDGET (stop.time_budget; run the same command to go on)"
            if self.stopped_on_budget
            else "INTERRUPTED (run the same command to resume)"
        )
        lines = [
            f"sweep {self.study} {status} in {self.wall_seconds / 60:.1f} min: "
            f"{self.n_trials} trials ({self.n_completed} full, {self.n_stopped} stopped early, "
            f"{self.n_failed} failed)",
        ]
        if self.grown:
            lines.append(f"grown        {self.n_added} new trials ({self.grown}); the "
                         f"{self.n_trials - self.n_added} before them kept as they were")
        if self.best is None:
            lines.append("best ratio   none: no trial ran to the end")
        else:
            lines.extend(self.best.describe())
            lines.extend(
                f"             at {label(e.ratio_int, e.params)}: {e.effect.describe()}"
                for e in self.stdp_effects
                if e.config != self.best.config
            )
        if self.pareto_front is not None:
            lines.extend(self._energy_lines())
        lines.append(f"results      {self.results_dir}")
        lines.append(f"optuna       {self.storage}  (study {self.study})")
        return "\n".join(lines)

    def _energy_lines(self) -> list[str]:
        """The front, cheapest first, and pure STBP against the best ratio within budget."""
        budget = f"{100 * BUDGET_SHARE:.0f}%"
        if not self.pareto_front:
            return ["pareto front none: no full run yet"]
        n = len(self.pareto_front)
        lines = [
            f"pareto front {n} full run{'s' if n != 1 else ''}, cheapest first "
            "(STDP : STBP : STDP-STBP, energy per validation sample)"
        ]
        lines += [f"             {p.render()}" for p in self.pareto_front]
        base = self.stbp_baseline
        if base is None:
            lines.append("pure STBP    not run as a full run: no baseline to set a budget by")
            return lines
        lines.append(f"pure STBP    {base.render()}")
        best = self.best_under_budget
        if best is None:
            lines.append(f"under {budget}    none within {budget} of pure STBP's energy")
        else:
            share = best.energy_pj_per_sample / base.energy_pj_per_sample
            lines.append(
                f"under {budget}    {best.render()} ({100 * share:.0f}% of pure STBP's energy, "
                f"{100 * (best.val_acc - base.val_acc):+.2f} points of accuracy)"
            )
        return lines


def energy_outcome(runs: list[Run]) -> tuple[list[EnergyPoint], EnergyPoint | None, Best | None]:
    """(Pareto front, pure STBP, best ratio under ``BUDGET_SHARE`` of its energy).

    The front is per run, like the report's; the budget comparison is per ratio, by the
    one rule among the ratios within budget, like ``biril best --max-energy``. Variant runs
    (the frozen controls) are another config than their ratio's, so not on the front.
    """
    runs = [r for r in runs if r.energy_pj_per_sample is not None and not r.overrides]
    on_front = non_dominated([r.val_acc for r in runs], [r.energy_pj_per_sample for r in runs])
    front = sorted(
        (
            EnergyPoint(ratio=list(r.ratio), val_acc=r.val_acc, energy_pj_per_sample=e)
            for r, keep in zip(runs, on_front, strict=True)
            if keep and (e := r.energy_pj_per_sample) is not None
        ),
        key=lambda p: (p.energy_pj_per_sample, p.val_acc),
    )
    stbp = [s for s in rank(runs).standings if ratio_key(s.ratio) == ratio_key(PURE_STBP)]
    if not stbp:
        return front, None, None
    base = _point(stbp[0])
    cheaper = rank(runs, max_energy=BUDGET_SHARE * base.energy_pj_per_sample).best
    return front, base, _point(cheaper) if cheaper else None


def _point(s: Standing | Best) -> EnergyPoint:
    """One ratio's point: the mean over its seeds."""
    return EnergyPoint(
        ratio=list(s.ratio), val_acc=s.val_acc, energy_pj_per_sample=s.energy_pj_per_sample
    )


def summarize(
    study: optuna.Study,
    *,
    storage_url: str,
    results_dir: str,
    expected_search: int,
    confirmation: Confirmation | None = None,
    wall_seconds: float,
    grown: Growth | None = None,
    stopped_on_budget: bool = False,
) -> SweepSummary:
    """Count and rank the study's trials (waiting, never-started ones are not trials yet).

    ``confirmation`` is the spec's confirmation stage, to tell a finished sweep from an
    interrupted one; ``grown`` what a larger budget added to a finished sweep.
    """
    dataset, sweep = _identity(study)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    stopped = [t for t in complete if not t.user_attrs.get("full_run")]
    failed = [t for t in trials if t.state in (TrialState.FAIL, TrialState.PRUNED)]
    searched = [
        t
        for t in trials
        if t.user_attrs.get("stage", "search") == "search" and t.state.is_finished()
    ]
    running = [t for t in trials if t.state == TrialState.RUNNING]
    runs = _runs(trials, dataset, sweep, study.study_name)
    front = stbp = under_budget = None
    if len(study.directions) > 1:
        front, stbp, under_budget = energy_outcome(runs)
    missing = confirmation.missing(trials) if confirmation else []
    return SweepSummary(
        sweep=sweep,
        dataset=dataset,
        study=study.study_name,
        storage=storage_url,
        results_dir=results_dir,
        best=rank(runs).best,
        stdp_effects=stdp_effects(runs),
        n_trials=len(trials),
        n_completed=len(complete) - len(stopped),
        n_stopped=len(stopped),
        n_failed=len(failed),
        complete=not running and len(searched) >= expected_search and not missing,
        wall_seconds=wall_seconds,
        grown=grown.describe() if grown else None,
        n_added=len(trials) - grown.trials_before if grown else 0,
        stopped_on_budget=stopped_on_budget and bool(running or missing
                                                     or len(searched) < expected_search),
        pareto_front=front,
        stbp_baseline=stbp,
        best_under_budget=under_budget,
    )


def _identity(study: optuna.Study) -> tuple[str, str]:
    """(dataset, sweep) from the study's attributes, else from its ``<dataset>/<sweep>`` name."""
    named = split_study_name(study.study_name) or (study.study_name, study.study_name)
    return study.user_attrs.get("dataset", named[0]), study.user_attrs.get("sweep", named[1])


def _runs(trials: list[FrozenTrial], dataset: str, sweep: str, study: str) -> list[Run]:
    return [r for t in trials if (r := run_of(t, dataset, sweep, study)) is not None]
