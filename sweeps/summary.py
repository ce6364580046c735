"""``SweepSummary``: what a finished (or interrupted) sweep found, read back from its study.

The best ratio is chosen on validation accuracy only: full runs are grouped by ratio and
the highest mean validation accuracy wins — among the ratios of the confirmation stage
when there was one, since a single lucky run on a small validation set is exactly what
that stage is there to rule out. Its mean test accuracy is reported beside it.

A two-objective sweep (``objective: accuracy_energy``) adds what it was run for: the
Pareto front of its full runs, and pure STBP against the most accurate ratio that costs
under 80% of its energy — "how much accuracy does a fifth of the energy cost?".
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel

from analysis.pareto import non_dominated

from .spec import SHARES

PURE_STBP = (0.0, 1.0, 0.0)
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
    best_ratio: list[float] | None
    best_val_acc: float | None
    best_test_acc: float | None
    best_runs: int
    n_trials: int
    n_completed: int
    n_stopped: int
    n_failed: int
    complete: bool
    wall_seconds: float
    # objective: accuracy_energy only (None otherwise). The full runs on the Pareto front,
    # cheapest first; pure STBP (mean of its full runs); the most accurate ratio (mean over
    # its full runs) under BUDGET_SHARE of pure STBP's energy.
    pareto_front: list[EnergyPoint] | None = None
    stbp_baseline: EnergyPoint | None = None
    best_under_budget: EnergyPoint | None = None

    def render(self) -> str:
        """The human-readable end summary."""
        status = "finished" if self.complete else "INTERRUPTED (run the same command to resume)"
        lines = [
            f"sweep {self.study} {status} in {self.wall_seconds / 60:.1f} min: "
            f"{self.n_trials} trials ({self.n_completed} full, {self.n_stopped} stopped early, "
            f"{self.n_failed} failed)",
        ]
        if self.best_ratio is None:
            lines.append("best ratio   none: no trial completed")
        else:
            shares = " : ".join(f"{x:.3f}" for x in self.best_ratio)
            test = f"{100 * self.best_test_acc:.2f}%" if self.best_test_acc is not None else "-"
            lines.append(
                f"best ratio   {':'.join(SHARES)} = {shares}  "
                f"(val {100 * self.best_val_acc:.2f}%, test {test}, "
                f"mean of {self.best_runs} run{'s' if self.best_runs != 1 else ''})"
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
            lines.append(f"under {budget}    none under {budget} of pure STBP's energy")
        else:
            share = best.energy_pj_per_sample / base.energy_pj_per_sample
            lines.append(
                f"under {budget}    {best.render()} ({100 * share:.0f}% of pure STBP's energy, "
                f"{100 * (best.val_acc - base.val_acc):+.2f} points of accuracy)"
            )
        return lines


def ratio_key(t: FrozenTrial) -> tuple[float, ...]:
    """A trial's ratio, rounded so the same ratio reached twice compares equal."""
    return tuple(round(x, 9) for x in t.user_attrs.get("ratio", ()))


def by_ratio(trials: list[FrozenTrial]) -> dict[tuple, list[FrozenTrial]]:
    """Trials grouped by their ratio (seeds and confirmation runs of one ratio together)."""
    groups: dict[tuple, list[FrozenTrial]] = defaultdict(list)
    for t in trials:
        groups[ratio_key(t)].append(t)
    return groups


Best = tuple[list[float] | None, float | None, float | None, int]


def best_ratio(trials: list[FrozenTrial]) -> Best:
    """(ratio, mean val, mean test, runs) of the best ratio among full runs.

    Confirmed ratios rank first; without any full run (everything stopped early), the
    best early-stopped trial.
    """
    full = full_runs(trials)
    if full:
        groups = by_ratio(full)

        def rank(g: list[FrozenTrial]) -> tuple:
            confirmed = any(t.user_attrs.get("stage") == "confirm" for t in g)
            return (confirmed, mean(accuracy(t) for t in g), len(g))

        runs = max(groups.values(), key=rank)
        tests = [t.user_attrs["test_acc"] for t in runs if "test_acc" in t.user_attrs]
        ratio = list(runs[0].user_attrs["ratio"])
        return ratio, mean(accuracy(t) for t in runs), mean(tests) if tests else None, len(runs)
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    if not done:
        return None, None, None, 0
    t = max(done, key=accuracy)
    return list(t.user_attrs["ratio"]), accuracy(t), None, 1


def full_runs(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Completed trials that trained every planned epoch."""
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.user_attrs.get("full_run") and t.values
    ]


def accuracy(t: FrozenTrial) -> float:
    """Validation accuracy, the first objective (``t.value`` raises on two objectives)."""
    return t.values[0]


def energy(t: FrozenTrial) -> float:
    """Energy per validation sample in pJ, the second objective of ``accuracy_energy``."""
    return t.values[1]


Energy = tuple[list[EnergyPoint], EnergyPoint | None, EnergyPoint | None]


def energy_outcome(trials: list[FrozenTrial]) -> Energy:
    """(Pareto front, pure STBP, best ratio under ``BUDGET_SHARE`` of its energy).

    The front is per run, like the report's; the budget comparison is per ratio, on the
    means over its full runs, like ``biril best --max-energy``.
    """
    full = full_runs(trials)
    on_front = non_dominated([accuracy(t) for t in full], [energy(t) for t in full])
    front = sorted(
        (_point([t]) for t, keep in zip(full, on_front, strict=True) if keep),
        key=lambda p: (p.energy_pj_per_sample, p.val_acc),
    )
    groups = by_ratio(full)
    base = _point(groups[PURE_STBP]) if PURE_STBP in groups else None
    if base is None:
        return front, None, None
    budget = BUDGET_SHARE * base.energy_pj_per_sample
    within = [p for p in map(_point, groups.values()) if p.energy_pj_per_sample < budget]
    best = max(within, key=lambda p: (p.val_acc, -p.energy_pj_per_sample), default=None)
    return front, base, best


def _point(runs: list[FrozenTrial]) -> EnergyPoint:
    """One ratio's point: the mean over its runs."""
    return EnergyPoint(
        ratio=list(runs[0].user_attrs["ratio"]),
        val_acc=mean(accuracy(t) for t in runs),
        energy_pj_per_sample=mean(energy(t) for t in runs),
    )


def summarize(
    study: optuna.Study,
    *,
    storage_url: str,
    results_dir: str,
    expected_search: int,
    confirm: tuple[int, int] = (0, 0),
    wall_seconds: float,
) -> SweepSummary:
    """Count and rank the study's trials (waiting, never-started ones are not trials yet).

    ``confirm`` is (top_k, seeds) of the confirmation stage, to tell a finished sweep
    from an interrupted one.
    """
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
    distinct = {ratio_key(t) for t in searched if t.state == TrialState.COMPLETE}
    confirmed = [t for t in trials if t.user_attrs.get("stage") == "confirm"]
    expected_confirm = min(confirm[0], len(distinct)) * confirm[1]
    ratio, val, test, runs = best_ratio(trials)
    front, stbp, under_budget = (
        energy_outcome(trials) if len(study.directions) > 1 else (None, None, None)
    )
    return SweepSummary(
        sweep=study.user_attrs.get("sweep", study.study_name.split("/", 1)[-1]),
        dataset=study.user_attrs.get("dataset", study.study_name.split("/", 1)[0]),
        study=study.study_name,
        storage=storage_url,
        results_dir=results_dir,
        best_ratio=ratio,
        best_val_acc=val,
        best_test_acc=test,
        best_runs=runs,
        n_trials=len(trials),
        n_completed=len(complete) - len(stopped),
        n_stopped=len(stopped),
        n_failed=len(failed),
        complete=not running
        and len(searched) >= expected_search
        and len(confirmed) >= expected_confirm,
        wall_seconds=wall_seconds,
        pareto_front=front,
        stbp_baseline=stbp,
        best_under_budget=under_budget,
    )
