"""The search space: ratios on the 2-simplex, continuous or on an integer lattice.

``simplex`` uses the proportion trick of Optuna's FAQ: three ``u_i ∈ (0, 1]``,
``x_i = −log u_i``, normalized. With ``u_i`` uniform that is a uniform draw on the
simplex (normalized exponentials are Dirichlet(1, 1, 1)), and every point — the pure
baselines included (``u_i = 1`` gives ``x_i = 0``) — has a preimage, so warm starts can
be enqueued as exact ``u`` values. Lower bounds on shares are an affine map of the whole
simplex onto the bounded one (still uniform); upper bounds, if any, are enforced by
projecting onto the bounded set.

``lattice`` is the paper's grid: ``a:b:c`` with ``a + b + c = N``, one categorical
parameter whose choices are the points inside the bounds.

A spec's ``search.params`` add dimensions over ``TrainConfig`` fields (``stdp_lr`` from
1e-3 to 1e-1 on a log scale, say), one Optuna parameter each, named for its field and
searched jointly with the ratio's by the same sampler.
"""

from __future__ import annotations

import math
from typing import Any

from results.ratios import SHARE_NAMES, Ratio
from results.schema import ROLE_SEARCH

from .simplex import Bounds, lattice_points
from .spec import Param, SweepSpec, number_type

U_LOW = 1e-12  # u = 0 would be x = +inf; the FAQ's (0, 1] interval, closed at a tiny number
U_PARAMS = tuple(f"u_{s}" for s in SHARE_NAMES)
LATTICE_PARAM = "lattice"

Fractions = tuple[float, float, float]


def proportions(us: tuple[float, float, float]) -> Fractions:
    """``x_i = −log u_i`` normalized to sum to one (all ``u_i = 1``: the centre)."""
    xs = [-math.log(u) for u in us]
    total = sum(xs)
    if total <= 0.0:
        return (1 / 3, 1 / 3, 1 / 3)
    return tuple(x / total for x in xs)  # type: ignore[return-value]


def to_bounds(p: Fractions, bounds: Bounds) -> Fractions:
    """Map a point of the whole simplex into the bounded region.

    Lower bounds: ``r = lo + (1 − Σlo)·p`` (affine, onto). Upper bounds: Euclidean
    projection onto ``{lo ≤ r ≤ hi, Σr = 1}``, i.e. ``clip(r − τ)`` with ``τ`` found by
    bisection; a no-op for points that already fit.
    """
    lo, hi = bounds.lows, bounds.highs
    slack = 1.0 - sum(lo)
    r = tuple(lo_i + slack * p_i for lo_i, p_i in zip(lo, p, strict=True))
    if all(r_i <= hi_i for r_i, hi_i in zip(r, hi, strict=True)):
        return r  # type: ignore[return-value]

    def clipped(tau: float) -> list[float]:
        return [min(max(r_i - tau, lo_i), hi_i) for r_i, lo_i, hi_i in zip(r, lo, hi, strict=True)]

    a, b = -1.0, 1.0  # sum(clipped(τ)) decreases in τ; it is ≥ 1 at −1 and ≤ 1 at +1
    for _ in range(100):
        mid = (a + b) / 2
        if sum(clipped(mid)) > 1.0:
            a = mid
        else:
            b = mid
    out = clipped((a + b) / 2)
    total = sum(out)
    return tuple(x / total for x in out)  # type: ignore[return-value]


def from_bounds(r: Fractions, bounds: Bounds) -> Fractions | None:
    """The simplex point ``p`` that ``to_bounds`` maps to ``r`` (None: ``r`` is outside)."""
    if not bounds.contains(r):
        return None
    slack = 1.0 - sum(bounds.lows)
    if slack <= 1e-12:
        return (1 / 3, 1 / 3, 1 / 3)
    p = [max(0.0, (r_i - lo_i) / slack) for r_i, lo_i in zip(r, bounds.lows, strict=True)]
    total = sum(p)
    return tuple(x / total for x in p)  # type: ignore[return-value]


def on_lattice(ratio: str, total: int) -> str | None:
    """``ratio`` as a point of the ``total`` lattice, if it is one (``1:4:1`` → ``2:8:2``)."""
    scaled = [f * total for f in Ratio.parse(ratio).fractions]
    if any(abs(x - round(x)) > 1e-9 for x in scaled):
        return None
    return ":".join(str(round(x)) for x in scaled)


def suggest_params(trial, params: dict[str, Param]) -> dict[str, Any]:
    """Each searched ``TrainConfig`` field's value for this trial (Optuna names it alike)."""
    values = {}
    for name, p in params.items():
        if p.choices is not None:
            values[name] = trial.suggest_categorical(name, p.choices)
        elif number_type(name) is int:
            values[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
        else:
            values[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
    return values


def warm_start_params(spec: SweepSpec) -> tuple[list[dict[str, Any]], list[str]]:
    """Optuna parameters of the spec's warm-start ratios, and the ratios that do not fit.

    A ratio is left out when it violates the bounds or is not a point of the lattice.
    """
    search = spec.search
    params, skipped = [], []
    for ratio in search.warm_start:
        if search.space == "lattice":
            point = on_lattice(ratio, search.lattice.total)
            fits = point is not None and point in lattice_points(
                search.lattice.total, search.bounds
            )
            if fits:
                params.append({LATTICE_PARAM: point})
            else:
                skipped.append(ratio)
            continue
        p = from_bounds(Ratio.parse(ratio).fractions, search.bounds)
        if p is None:
            skipped.append(ratio)
            continue
        params.append({name: math.exp(-p_i) for name, p_i in zip(U_PARAMS, p, strict=True)})
    return params, skipped


class RatioSpace:
    """Optuna define-by-run search space: suggests a ratio, returns it for the trial config.

    A search trial suggests its ratio and the spec's ``search.params``; a confirmation
    trial (enqueued by the searcher) re-runs a searched trial's parameters, or, with no
    source trial (``confirms`` None), runs the fixed ``ratio`` of its user attributes at the
    spec's own settings without suggesting anything (pure STBP may lie outside the searched
    bounds). Returns the constants Tune merges into the trial's config: ``ratio`` (three
    fractions), ``ratio_parts`` (what the trainer gets: the lattice's integers, so ``order:
    blocked`` works there), ``seed``, ``stage``, ``role``, ``params`` (the searched
    ``TrainConfig`` values) and ``overrides`` (``TrainConfig`` fields a confirmation
    variant changes, applied over ``params``).
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.space = spec.search.space
        self.bounds = spec.search.bounds
        self.lattice = lattice_points(spec.search.lattice.total, self.bounds)
        self.seed = spec.train.seed
        self.params = spec.search.params

    @staticmethod
    def fixed(trial) -> bool:
        """A confirmation run of a fixed ratio (no source trial): nothing is suggested."""
        attrs = trial.user_attrs
        return attrs.get("stage") == "confirm" and attrs.get("confirms") is None

    def parts(self, trial) -> list[float]:
        """The suggested ratio: lattice integers ``[a, b, c]``, else simplex fractions."""
        if self.fixed(trial):
            return list(trial.user_attrs["ratio"])
        if self.space == "lattice":
            point = trial.suggest_categorical(LATTICE_PARAM, self.lattice)
            return [int(x) for x in point.split(":")]
        us = tuple(trial.suggest_float(name, U_LOW, 1.0) for name in U_PARAMS)
        return list(to_bounds(proportions(us), self.bounds))  # type: ignore[arg-type]

    def __call__(self, trial) -> dict[str, Any]:
        parts = self.parts(trial)
        ratio = [float(x) for x in Ratio.parse(parts).fractions]
        attrs = trial.user_attrs
        identity = {
            "stage": attrs.get("stage", "search"),
            "role": attrs.get("role", ROLE_SEARCH),
            "seed": int(attrs.get("seed", self.seed)),
            "ratio": ratio,
            "params": {} if self.fixed(trial) else suggest_params(trial, self.params),
            "overrides": dict(attrs.get("overrides") or {}),
        }
        for key, value in identity.items():
            trial.set_user_attr(key, value)
        # ``number`` orders the trials for the rung decisions (``sweeps.rungs``).
        return {**identity, "ratio_parts": parts, "number": trial.number}
