"""Sweeps that grow: a larger budget continues a finished sweep instead of starting over.

Re-running a finished sweep with more search trials (``search.num_trials``), more
confirmation seeds (``search.confirm.seeds``) or more confirmed ratios
(``search.confirm.top_k``) runs only what the larger spec adds: the study keeps every
trial, the searcher counts what it already holds (``RatioSearch`` decides from the study,
not from counters), the confirmation plan re-run on the study names only the missing runs,
and the rung decisions see the earlier trials' curves (``OrderedASHA``), so the grown
sweep cuts as a sweep started at the larger size would have. The new trials run in a new
Tune experiment beside the old trial folders, which stay where the store points at them.

Any other change (dataset, epochs, preset, bounds, sampler, ...) would make the old
trials incomparable with the new ones and is refused, naming the field; so is a smaller
budget, and growing a sweep that is still running or was interrupted (resume it first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from .spec import SweepError, SweepSpec

GROWABLE = ("search.num_trials", "search.confirm.seeds", "search.confirm.top_k")
# Fields that say how this run ends, not what its trials measure: free to change.
FREE = ("stop.",)


@dataclass(frozen=True)
class Growth:
    """What a re-run adds to a finished sweep: the changed budgets and the trials before."""

    changes: tuple[tuple[str, int, int], ...]
    trials_before: int

    def describe(self) -> str:
        return ", ".join(f"{path} {old} → {new}" for path, old, new in self.changes)


def changes(old: dict | None, spec: SweepSpec) -> list[tuple[str, Any, Any]]:
    """Where the stored spec and this one differ in what the trials measure or how many
    there are (the ``FREE`` fields left out)."""
    return [d for d in differences(old or {}, spec.to_store()) if not d[0].startswith(FREE)]


def differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, old, new) of every leaf where two JSON-like specs differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(old.keys() | new.keys()):
            out += differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    return [] if old == new else [(path, old, new)]


def growth(study: optuna.Study | None, spec: SweepSpec) -> Growth | None:
    """The growth this spec asks of the stored sweep; None when it is not one (no study,
    or the same spec). Raises ``SweepError`` for a change that cannot continue the sweep."""
    old = study.user_attrs.get("spec") if study is not None else None
    if old is None:
        return None
    changed = changes(old, spec)
    if not changed:
        return None
    name = study.study_name
    for path, before, after in changed:
        if path not in GROWABLE:
            raise SweepError(
                f"the spec of sweep {name} changed since it started: {path} ({before!r} → "
                f"{after!r}) would make its finished trials incomparable with new ones (a "
                f"sweep grows only by {', '.join(GROWABLE)}); pass --fresh to start over, or "
                "--name for a new sweep"
            )
        if after < before:
            raise SweepError(
                f"the spec of sweep {name} asks for less: {path} {before} → {after}; a sweep "
                "grows but does not shrink (its trials are kept): pass --fresh to start over, "
                "or --name for a new sweep"
            )
    trials = study.get_trials(deepcopy=False)
    if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
        raise SweepError(
            f"sweep {name} is not finished (trials still running or interrupted): resume it "
            "with the spec it started with, then grow it"
        )
    return Growth(tuple(changed), len(trials))
