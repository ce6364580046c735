"""Ratio sweeps: Ray Tune trial actors running BIRIL trainers, Optuna on the ratio simplex.

>>> from sweeps import load_spec, run_sweep
>>> summary = run_sweep(load_spec("digits"))  # doctest: +SKIP
>>> summary.best.ratio_int, summary.best.ci, summary.best.verdict  # doctest: +SKIP

Names load on first use (``lazy_loader``), so ``biril sweep`` (``birilcli.sweep``)
costs no torch, Optuna or Ray import until the command runs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "spec": [
            "SpecError", "SweepError", "SweepSpec", "load_spec", "parse_spec", "shipped_specs",
        ],
        "summary": ["SweepSummary"],
        "runner": ["run_sweep"],
    },
)
