"""A contrast pooled over scenarios, seeds paired within scenario (a stratified paired design).

Each scenario s contributes its n_s paired differences d = a − reference (same seed, same
scenario). The pooled estimate is the mean of all N = Σ n_s differences — the scenario means
weighted by n_s — and its standard error uses the *within-scenario* spread only:

    s_p² = Σ_s Σ_i (d_si − d̄_s)² / (N − S),   se = s_p / √N,   df = N − S

so scenario-to-scenario differences in the effect neither inflate nor deflate the error.
This is ordinary least squares of d on scenario indicators with the contrast Σ (n_s/N)·β_s;
with one scenario it is the paired t-test. tests/test_analysis_stats.py checks both against
statsmodels and scipy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

# spread below this fraction of the values' magnitude is floating-point rounding, not data
REL_NOISE = 1e-12


@dataclass(frozen=True)
class Estimate:
    """One contrast: point, spread and a two-sided interval at ``confidence``."""
    n: int                         # paired differences used
    strata: int                    # scenarios that contributed
    estimate: float | None
    sd: float | None               # pooled within-scenario sd of the differences
    se: float | None
    df: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None                # two-sided, H0: effect = 0
    confidence: float
    note: str | None = None

    def interval(self, confidence: float) -> tuple[float | None, float | None]:
        """The t-interval at another confidence (same estimate, se and df)."""
        if self.estimate is None or self.se is None or self.df is None:
            return None, None
        if self.se == 0:
            return self.estimate, self.estimate
        half = t_quantile(self.df, 0.5 + confidence / 2) * self.se
        return self.estimate - half, self.estimate + half


def t_quantile(df: float, q: float) -> float:
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def t_cdf(df: float, x: float) -> float:
    from scipy.special import stdtr

    return float(stdtr(df, x))


def stratified(differences: Mapping[str, Sequence[float]], confidence: float) -> Estimate:
    """The pooled paired contrast over scenarios (see the module docstring)."""
    strata = {s: [float(x) for x in d] for s, d in differences.items() if len(d)}
    n = sum(len(d) for d in strata.values())
    k = len(strata)
    if n == 0:
        return Estimate(0, 0, None, None, None, None, None, None, None, confidence,
                        "no paired seeds")
    estimate = math.fsum(x for d in strata.values() for x in d) / n
    df = n - k
    if df <= 0:
        return Estimate(n, k, estimate, None, None, None, None, None, None, confidence,
                        "one seed per scenario: no spread to estimate an interval from")
    ss = math.fsum((x - m) ** 2 for d in strata.values()
                   for m in [math.fsum(d) / len(d)] for x in d)
    sd = math.sqrt(ss / df)
    scale = max(abs(x) for d in strata.values() for x in d)
    if sd <= REL_NOISE * scale:   # equal up to rounding: the difference is exact
        return Estimate(n, k, estimate, 0.0, 0.0, float(df), estimate, estimate, None,
                        confidence, "zero variance: every seed gives the same difference, "
                                    "so the interval is the point")
    se = sd / math.sqrt(n)
    half = t_quantile(df, 0.5 + confidence / 2) * se
    t = estimate / se
    p = 2.0 * t_cdf(df, -abs(t))
    return Estimate(n, k, estimate, sd, se, float(df), estimate - half, estimate + half, p,
                    confidence)
