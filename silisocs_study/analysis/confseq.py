"""An anytime-valid confidence sequence for a mean: valid however often the data are peeked at.

Lai's t-mixture confidence sequence (T. L. Lai, "On confidence sequences", Annals of Statistics
4(2), 1976; presented with its proof in H. Wang & A. Ramdas, "Anytime-valid t-tests and
confidence sequences for Gaussian means with unknown variance", Sequential Analysis, 2025).

For x_1..x_n i.i.d. N(μ, σ²), σ unknown, the scale-invariant likelihood ratio of "the mean is
μ + θσ" against "the mean is μ", mixed over θ ~ N(0, 1/c), is

    M_n(μ) = sqrt(c / (c + n)) · (1 − S_n² / ((c + n) V_n))^(−n/2),
    S_n = Σ (x_i − μ),  V_n = Σ (x_i − μ)²,

a nonnegative martingale under μ that starts at 1 (the first value says nothing about the
scale). By Ville's inequality P(∃ n: M_n(μ) ≥ 1/α) ≤ α, so {μ : M_n(μ) < 1/α} covers μ at
every n at once — a stopping rule may look after every seed. Solving for μ gives a symmetric
interval around the mean x̄ with Q = Σ (x_i − x̄)²:

    r = (α² c / (c + n))^(1/n),  k = (1 − r)(c + n),
    half-width = sqrt(k · Q / (n (n − k)))   when n > k, else the whole line.

It is exact for Gaussian seeds and approximate otherwise; tests/test_confseq.py checks the
time-uniform coverage by simulation. ``c`` sets where the sequence is tightest: 0.3 keeps it
within ~1.7× of the fixed-n t-interval for 5–50 seeds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

DEFAULT_C = 0.3
NAME = "Lai's t-mixture confidence sequence (anytime-valid)"


@dataclass(frozen=True)
class Interval:
    """The confidence sequence at the current n: (None, None) when still unbounded."""
    n: int
    mean: float | None
    low: float | None
    high: float | None
    alpha: float

    @property
    def half_width(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2


def half_width(n: int, ss: float, alpha: float, c: float = DEFAULT_C) -> float:
    """The half-width at n values whose squared deviations from their mean sum to ``ss``
    (``math.inf`` while the sequence is still the whole line)."""
    if n < 2:
        return math.inf
    r = (alpha * alpha * c / (c + n)) ** (1.0 / n)
    k = (1.0 - r) * (c + n)
    if n <= k:
        return math.inf
    return math.sqrt(max(ss, 0.0) * k / (n * (n - k)))


def confidence_sequence(values: Sequence[float], alpha: float, c: float = DEFAULT_C
                        ) -> Interval:
    """The sequence's interval for the mean of ``values`` at level 1 − α."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return Interval(0, None, None, None, alpha)
    mean = math.fsum(xs) / n
    ss = math.fsum((x - mean) ** 2 for x in xs)
    if ss <= (1e-12 * max(abs(x) for x in xs)) ** 2 * n:
        ss = 0.0   # identical up to rounding: every seed gave the same value
    half = half_width(n, ss, alpha, c)
    if math.isinf(half):
        return Interval(n, mean, None, None, alpha)
    return Interval(n, mean, mean - half, mean + half, alpha)


def combine(parts: Sequence[tuple[int, float | None, float | None]]
            ) -> tuple[float | None, float | None]:
    """The n-weighted average of simultaneous intervals ``(n, low, high)``: when every part
    covers its mean at once (each at α/parts), the weighted bounds cover the weighted mean for
    any weights, data-dependent ones included — the pooled interval of stratified arms."""
    used = [(n, lo, hi) for n, lo, hi in parts if n > 0]
    total = sum(n for n, _, _ in used)
    if not used or any(lo is None or hi is None for _, lo, hi in used):
        return None, None
    return (math.fsum(n * lo for n, lo, _ in used) / total,      # type: ignore[operator]
            math.fsum(n * hi for n, _, hi in used) / total)      # type: ignore[operator]
