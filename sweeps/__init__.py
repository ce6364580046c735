"""Ratio sweeps: Ray Tune trial actors running BIRIL trainers, Optuna on the ratio simplex.

>>> from sweeps import load_spec, run_sweep
>>> summary = run_sweep(load_spec("digits"))  # doctest: +SKIP
>>> summary.best.ratio_int, summary.best.ci, summary.best.verdict  # doctest: +SKIP

Names are loaded on first use, so ``biril sweep`` (``birilcli.sweep``)
costs no torch, Optuna or Ray import until the command runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "SpecError": "spec",
    "SweepError": "spec",
    "SweepSpec": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "shipped_specs": "spec",
    "SweepSummary": "summary",
    "run_sweep": "runner",
}
__all__ = [
    "SpecError",
    "SweepError",
    "SweepSpec",
    "SweepSummary",
    "load_spec",
    "parse_spec",
    "run_sweep",
    "shipped_specs",
]

if TYPE_CHECKING:
    from .runner import run_sweep
    from .spec import SpecError, SweepError, SweepSpec, load_spec, parse_spec, shipped_specs
    from .summary import SweepSummary


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
