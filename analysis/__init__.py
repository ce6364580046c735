"""Results store → pandas, accuracy surfaces on the ratio simplex, HTML report, best ratio.

Reads only the results store written by ``biril sweep`` (one Optuna study per sweep, trial
user attrs per the results-store contract); never talks to a live Ray cluster. The public
names load lazily, so importing the package (as every ``biril`` command does) stays cheap.

Example::

    import analysis
    trials = analysis.load_trials("biril-results", dataset="digits")
    best = analysis.best_ratio("digits", storage="biril-results")
    analysis.write_report("biril-results", output="report.html")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analysis.best import BestRatio, best_ratio
    from analysis.energy import fit_energy_surface, pareto_front
    from analysis.report import write_report
    from analysis.stats import summarize_ratios
    from analysis.store import StoreError, load_curves, load_trials
    from analysis.surface import Surface, fit_surface

_EXPORTS = {
    "BestRatio": "analysis.best",
    "best_ratio": "analysis.best",
    "fit_energy_surface": "analysis.energy",
    "pareto_front": "analysis.energy",
    "write_report": "analysis.report",
    "summarize_ratios": "analysis.stats",
    "StoreError": "analysis.store",
    "load_curves": "analysis.store",
    "load_trials": "analysis.store",
    "Surface": "analysis.surface",
    "fit_surface": "analysis.surface",
}
__all__ = [
    "BestRatio",
    "StoreError",
    "Surface",
    "best_ratio",
    "fit_energy_surface",
    "fit_surface",
    "load_curves",
    "load_trials",
    "pareto_front",
    "summarize_ratios",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
