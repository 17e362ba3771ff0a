"""Two one-sided tests (TOST) against ±δ: is the effect smaller than anything that matters?

Equivalence at level α holds when both H0: effect ≤ −δ and H0: effect ≥ +δ are rejected at
α, which is the same as the two-sided (1 − 2α) interval lying inside (−δ, +δ) (Schuirmann
1987). The p-value is the larger of the two one-sided p-values.
"""
from __future__ import annotations

from .estimate import Estimate, t_cdf


def tost_p(est: Estimate, delta: float) -> float | None:
    """The TOST p-value of ``est`` against ±``delta`` (None without a t-interval)."""
    if est.estimate is None or est.se is None or est.df is None or delta <= 0:
        return None
    if est.se == 0:
        return 0.0 if abs(est.estimate) < delta else 1.0
    p_lower = 1.0 - t_cdf(est.df, (est.estimate + delta) / est.se)   # H0: effect <= -δ
    p_upper = t_cdf(est.df, (est.estimate - delta) / est.se)         # H0: effect >= +δ
    return max(p_lower, p_upper)
