"""Student's t distribution: the CDF and quantiles the ranking rule needs, in pure Python.

``scipy.stats`` would take seconds to import on every ``biril best``; the regularized
incomplete beta function below (Lentz's continued fraction, as in Numerical Recipes §6.4)
gives the CDF to ~1e-12, and the quantile is that CDF inverted by bisection.
``df = math.inf`` is the normal distribution.
"""

from __future__ import annotations

import functools
import math

_EPS = 1e-15
_TINY = 1e-300


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (``df > 0``)."""
    if math.isinf(df):
        return 0.5 * (1.0 + math.erf(t / math.sqrt(2.0)))
    # x and 1 - x both computed directly: near t = 0, 1 - x would lose every digit.
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The ``t`` with ``t_cdf(t, df) == p``, for ``0 < p < 1``.

    Cached: a ranking asks for the same few quantiles (95%, at each sweep's degrees of
    freedom) once per ratio, and a bisection costs ~50 CDF evaluations.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    low, high = -1.0, 1.0
    while t_cdf(low, df) > p:
        low *= 2.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * max(1.0, abs(mid)):
            break
    return (low + high) / 2.0


def two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|): the p-value of a two-sided t-test."""
    return min(1.0, 2.0 * t_cdf(-abs(t), df))


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """The regularized incomplete beta function I_x(a, b), given ``y = 1 - x``."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    )
    # The continued fraction converges fast below the mean of the beta distribution;
    # above it, use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, y) / b


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h
