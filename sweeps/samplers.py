"""The Optuna samplers a spec may name: one table, name → factory and what it can search.

``search.sampler``'s allowed values and the samplers allowed with two objectives both come
from ``SAMPLERS``; Optuna is imported only when a factory runs, so the spec stays cheap.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class SamplerEntry:
    """``make(seed, sampled)``: the sampler, given its seed and how many trials it samples."""

    make: Callable[[int, int], optuna.samplers.BaseSampler]
    multi_objective: bool


def nsga2_population(sampled: int) -> int:
    """NSGA-II's generation size: a third of the trials it samples, 4 to 50.

    Optuna's default of 50 would leave a sweep of tens of trials entirely in the random
    first generation; a third gives a short sweep about three generations to evolve.
    """
    return min(50, max(4, sampled // 3))


def _tpe(seed: int, sampled: int) -> optuna.samplers.BaseSampler:
    import optuna

    # constant_liar: concurrent trials do not all land on the same promising point.
    return optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)


def _gp(seed: int, sampled: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.GPSampler(seed=seed)


def _cmaes(seed: int, sampled: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _random(seed: int, sampled: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _qmc(seed: int, sampled: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)


def _nsga2(seed: int, sampled: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.NSGAIISampler(population_size=nsga2_population(sampled), seed=seed)


SAMPLERS: dict[str, SamplerEntry] = {
    "tpe": SamplerEntry(_tpe, multi_objective=True),
    "gp": SamplerEntry(_gp, multi_objective=True),
    "cmaes": SamplerEntry(_cmaes, multi_objective=False),
    "random": SamplerEntry(_random, multi_objective=True),
    "qmc": SamplerEntry(_qmc, multi_objective=True),
    "nsga2": SamplerEntry(_nsga2, multi_objective=True),
}
SamplerName = Literal[tuple(SAMPLERS)]  # type: ignore[valid-type]
MULTI_OBJECTIVE_SAMPLERS = tuple(name for name, e in SAMPLERS.items() if e.multi_objective)


def make_sampler(name: str, seed: int, sampled: int) -> optuna.samplers.BaseSampler:
    """The named sampler, seeded; Optuna's experimental-feature warnings silenced."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[name].make(seed, sampled)
