"""Compute accounting: what a sweep cost, in GPU-hours and CPU-hours, by stage.

A lab budgets cluster time in GPU-hours. Every trial records its training wall time over
restarts (``seconds``) and the sweep's spec says what each trial held
(``resources.gpus_per_trial``, ``cpus_per_trial``), so a trial cost ``seconds × gpus`` GPU-
seconds, a fractional GPU its fraction. The stages are the trial roles of
``results.schema``: the search, the confirmation re-runs of the top ratios, the pure STBP
baseline and the frozen controls.

``wall_hours`` is the sweep's span: the first trial's start to the last one's end (Optuna's
``datetime_start``/``datetime_complete``, which ``optuna.visualization.plot_timeline`` draws),
interruptions included. ``utilization`` is the share of the sweep's trial slots (the trials
it ran at once, ``slots``) that trained: trial-hours / (slots × wall hours). Actor start-up,
scheduling gaps and the tail where fewer trials than slots are left all lower it.

Trials are read by duck typing (``user_attrs``, ``datetime_start``, ``datetime_complete``),
Optuna's or the store reader's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from .schema import ROLE_CONFIRM, ROLE_CONTROL, ROLE_SEARCH, ROLE_STBP_BASELINE

# The study attribute holding how many trials the sweep ran at once.
STUDY_SLOTS = "slots"
# The trial attributes the accounting reads (beside the two datetimes).
COMPUTE_ATTRS = ("role", "stage", "seconds")
# Stage names, in the order they are shown, by trial role.
STAGES = {
    ROLE_SEARCH: "search",
    ROLE_CONFIRM: "confirmation",
    ROLE_STBP_BASELINE: "stbp_baseline",
    ROLE_CONTROL: "frozen_controls",
}
HOUR = 3600.0


class Cost(BaseModel):
    """Trials run and their trial-, GPU- and CPU-hours."""

    trials: int = 0
    trial_hours: float = 0.0
    gpu_hours: float = 0.0
    cpu_hours: float = 0.0


class Compute(BaseModel):
    """A sweep's cost by stage and in total, its span and how full its slots were."""

    stages: dict[str, Cost] = Field(default_factory=dict)
    total: Cost = Cost()
    gpus_per_trial: float
    cpus_per_trial: float
    wall_hours: float | None = None
    slots: int | None = None
    utilization: float | None = None

    def describe(self) -> str:
        """``1.23 GPU-h, 4.56 CPU-h (search 1, confirmation 0.23 GPU-h) · wall 0.5 h · …``."""
        unit = "GPU-h" if self.total.gpu_hours else "CPU-h"  # by stage, in what it used
        by = ", ".join(
            f"{name} {c.gpu_hours if self.total.gpu_hours else c.cpu_hours:.3g}"
            for name, c in self.stages.items()
        )
        text = f"{self.total.gpu_hours:.3g} GPU-h, {self.total.cpu_hours:.3g} CPU-h"
        if by:
            text += f" ({by} {unit})"
        if self.wall_hours is not None:
            text += f" · wall {self.wall_hours:.3g} h"
        if self.utilization is not None:
            text += f" · {self.slots} slots {100 * self.utilization:.0f}% busy"
        return text


def stage_of(attrs: Any) -> str:
    """A trial's stage for accounting: by role, else by its search/confirm stage."""
    role = attrs.get("role")
    if role in STAGES:
        return STAGES[role]
    return "search" if attrs.get("stage", "search") == "search" else "confirmation"


def compute_of(
    trials: Iterable[Any], gpus_per_trial: float, cpus_per_trial: float, slots: int | None
) -> Compute:
    """Total the trials' training time into GPU- and CPU-hours by stage.

    A trial without ``seconds`` (asked for, never reported) cost nothing measurable.
    """
    stages = {name: Cost() for name in STAGES.values()}
    starts, ends = [], []
    for t in trials:
        seconds = t.user_attrs.get("seconds")
        if seconds is None:
            continue
        cost = stages[stage_of(t.user_attrs)]
        cost.trials += 1
        cost.trial_hours += seconds / HOUR
        if t.datetime_start is not None and t.datetime_complete is not None:
            starts.append(t.datetime_start)
            ends.append(t.datetime_complete)
    for cost in stages.values():
        cost.gpu_hours = cost.trial_hours * gpus_per_trial
        cost.cpu_hours = cost.trial_hours * cpus_per_trial
    used = {name: c for name, c in stages.items() if c.trials}
    total = Cost(
        trials=sum(c.trials for c in used.values()),
        trial_hours=sum(c.trial_hours for c in used.values()),
        gpu_hours=sum(c.gpu_hours for c in used.values()),
        cpu_hours=sum(c.cpu_hours for c in used.values()),
    )
    wall = (max(ends) - min(starts)).total_seconds() / HOUR if starts else None
    busy = total.trial_hours / (slots * wall) if slots and wall else None
    return Compute(
        stages=used, total=total, gpus_per_trial=gpus_per_trial, cpus_per_trial=cpus_per_trial,
        wall_hours=wall, slots=slots, utilization=busy,
    )


def study_compute(study_attrs: dict[str, Any], trials: Iterable[Any]) -> Compute | None:
    """``compute_of`` with the resources of the study's stored spec (None without one)."""
    resources = (study_attrs.get("spec") or {}).get("resources")
    if resources is None:
        return None
    return compute_of(
        trials, float(resources.get("gpus_per_trial", 0.0)),
        float(resources.get("cpus_per_trial", 1.0)), study_attrs.get(STUDY_SLOTS),
    )
