"""``SweepSummary``: what a finished (or interrupted) sweep found, read back from its study.

The best ratio is chosen on validation accuracy only: full runs are grouped by ratio and
the highest mean validation accuracy wins — among the ratios of the confirmation stage
when there was one, since a single lucky run on a small validation set is exactly what
that stage is there to rule out. Its mean test accuracy is reported beside it.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel

from .spec import SHARES


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
        lines.append(f"results      {self.results_dir}")
        lines.append(f"optuna       {self.storage}  (study {self.study})")
        return "\n".join(lines)


def ratio_key(t: FrozenTrial) -> tuple[float, ...]:
    return tuple(round(x, 9) for x in t.user_attrs.get("ratio", ()))


Best = tuple[list[float] | None, float | None, float | None, int]


def best_ratio(trials: list[FrozenTrial]) -> Best:
    """(ratio, mean val, mean test, runs) of the best ratio among full runs.

    Confirmed ratios rank first; without any full run (everything stopped early), the
    best early-stopped trial.
    """
    full = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.user_attrs.get("full_run") and t.values
    ]
    if full:
        groups: dict[tuple, list[FrozenTrial]] = defaultdict(list)
        for t in full:
            groups[ratio_key(t)].append(t)

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


def accuracy(t: FrozenTrial) -> float:
    """Validation accuracy, the first objective (``t.value`` raises on two objectives)."""
    return t.values[0]


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
    )
