"""How many seeds per condition × scenario an answer needs, from the spread seen so far.

Two targets (the pooled stratified design of :mod:`.estimate`, S scenarios, n seeds each,
N = S·n pairs, df = S·(n − 1), sd = the pooled within-scenario sd of the differences):

* precision (default): the smallest n with t(1 − α/2, df) · sd/√N ≤ h·δ, h = ``half_width``
  (0.5: a CI half-width of δ/2, narrow enough to tell an effect of δ from none);
* power: the smallest n whose two-sided t-test at α detects an effect of δ with probability
  ≥ ``power`` (noncentral t with noncentrality δ·√N/sd) — with one scenario the paired-t
  sample size of statsmodels' TTestPower, which tests/test_analysis_stats.py checks.
"""
from __future__ import annotations

import math

from .estimate import t_quantile

MAX_SEEDS = 100_000


def seeds_needed(sd: float | None, strata: int, delta: float | None, alpha: float, *,
                 half_width: float = 0.5, power: float | None = None) -> int | None:
    """Seeds per condition × scenario (None: no spread or no δ to plan from; MAX_SEEDS+1:
    beyond any sensible budget)."""
    if sd is None or delta is None or delta <= 0 or strata < 1:
        return None
    if sd == 0:
        return 2
    if power is not None:
        def ok(n: int) -> bool:
            return _power(n, strata, sd, delta, alpha) >= power
    else:
        target = half_width * delta

        def ok(n: int) -> bool:
            df = strata * (n - 1)
            return t_quantile(df, 1 - alpha / 2) * sd / math.sqrt(strata * n) <= target
    low, high = 2, 2
    while not ok(high):
        if high > MAX_SEEDS:
            return MAX_SEEDS + 1
        low, high = high, high * 2
    while low < high:                 # smallest n in [low, high] that is ok
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid + 1
    return high


def _power(n: int, strata: int, sd: float, delta: float, alpha: float) -> float:
    from scipy.stats import nct

    df = strata * (n - 1)
    nc = delta * math.sqrt(strata * n) / sd
    crit = t_quantile(df, 1 - alpha / 2)
    return float(nct.sf(crit, df, nc) + nct.cdf(-crit, df, nc))
