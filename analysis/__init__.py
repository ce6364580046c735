"""Results store → pandas, accuracy surfaces on the ratio simplex, HTML report, best ratio.

Reads only the results store written by ``biril sweep`` (one Optuna study per sweep, trial
user attrs per the results-store contract); never talks to a live Ray cluster. The public
names load lazily (``lazy_loader``), so importing the package (as every ``biril`` command
does) stays cheap.

Example::

    import analysis
    trials = analysis.load_trials("biril-results", dataset="digits")
    best = analysis.best_ratio("digits", storage="biril-results")
    analysis.write_report("biril-results", output="report.html")
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "best": ["BestRatio", "best_ratio"],
        "energy": ["fit_energy_surface", "pareto_front"],
        "report": ["write_report"],
        "stats": ["summarize_ratios"],
        "store": ["StoreError", "load_curves", "load_trials"],
        "surface": ["Surface", "fit_surface"],
    },
)
