"""Honest summary statistics: n, mean, sd and a Student-t 95% CI, over replicate seeds.

Callers pass the values of ONE metric of ONE evaluator for ONE condition × scenario, so
nothing here can pool scenarios or mix evaluators by accident.
"""
from __future__ import annotations

import math
from typing import Iterable


def describe(values: Iterable[float], confidence: float = 0.95) -> dict:
    """{n, mean, sd, se, ci_low, ci_high}; CI needs n >= 2 (else None); NaNs are dropped."""
    xs = [float(v) for v in values if v is not None and not (isinstance(v, float)
                                                            and math.isnan(v))]
    n = len(xs)
    out = {"n": n, "mean": None, "sd": None, "se": None, "ci_low": None, "ci_high": None}
    if n == 0:
        return out
    mean = math.fsum(xs) / n
    out["mean"] = mean
    if n < 2:
        return out
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    se = sd / math.sqrt(n)
    from scipy import stats

    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    out.update(sd=sd, se=se, ci_low=mean - half, ci_high=mean + half)
    return out
