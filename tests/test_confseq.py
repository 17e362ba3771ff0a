"""Lai's t-mixture confidence sequence (silisocs_study.analysis.confseq) from first principles.

* the closed-form half-width is the root of M_n(μ) = 1/α, M_n the mixture martingale of the
  module docstring, solved numerically here (both bounded and unbounded cases);
* time-uniform coverage by simulation: for Gaussian data the chance that *some* n ≤ 50 has μ
  outside the interval is ≤ α (plus a binomial tolerance), while the fixed-n t-interval,
  peeked at every n the same way, misses far more often (so the simulation can tell);
* shape: unbounded at n = 1, narrowing like √(log n / n) for large n, 1.45–1.8× the width of
  the fixed-n t-interval at 10–50 values;
* combine(): the n-weighted bounds of simultaneous intervals.
"""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import stdtrit

from silisocs_study.analysis.confseq import (
    DEFAULT_C,
    combine,
    confidence_sequence,
    half_width,
)


def _log_martingale(xs: np.ndarray, mu: float, c: float) -> float:
    """log M_n(μ) straight from the definition (S_n, V_n around μ, not around x̄)."""
    n = len(xs)
    s = float(np.sum(xs - mu))
    v = float(np.sum((xs - mu) ** 2))
    return 0.5 * math.log(c / (c + n)) - n / 2 * math.log1p(-s * s / ((c + n) * v))


def _numeric_half_width(xs: np.ndarray, alpha: float, c: float) -> float:
    """The d > 0 with M_n(x̄ + d) = 1/α (M_n is symmetric and increasing in |μ − x̄|);
    inf when M_n stays below 1/α however far μ goes."""
    n, mean = len(xs), float(np.mean(xs))
    goal = math.log(1 / alpha)
    sup = (n - 1) / 2 * math.log((c + n) / c)        # log M_n(μ) as |μ| → ∞
    if sup <= goal:
        return math.inf
    scale = float(np.std(xs)) or 1.0
    high = scale
    while _log_martingale(xs, mean + high, c) < goal:
        high *= 2
    root = brentq(lambda d: _log_martingale(xs, mean + d, c) - goal, 0.0, high,
                  xtol=1e-13 * high, rtol=1e-12)
    # the same root on the other side: the interval is symmetric
    assert _log_martingale(xs, mean - root, c) == pytest.approx(goal, rel=1e-8)
    return root


@pytest.mark.parametrize("alpha", [0.1, 0.05, 0.01, 0.00625])
@pytest.mark.parametrize("c", [DEFAULT_C, 1.0])
def test_closed_form_solves_the_martingale_equation(alpha: float, c: float) -> None:
    rng = np.random.default_rng(20240611)
    bounded = unbounded = 0
    for n in (2, 3, 4, 5, 6, 8, 12, 20, 40, 100):
        for _ in range(3):
            xs = rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 3.0), n)
            ss = float(np.sum((xs - xs.mean()) ** 2))
            closed = half_width(n, ss, alpha, c)
            numeric = _numeric_half_width(xs, alpha, c)
            if math.isinf(numeric):
                unbounded += 1
                assert math.isinf(closed), (n, alpha, c)
                assert confidence_sequence(xs.tolist(), alpha, c).low is None
            else:
                bounded += 1
                assert closed == pytest.approx(numeric, rel=1e-7), (n, alpha, c)
                cs = confidence_sequence(xs.tolist(), alpha, c)
                assert cs.mean == pytest.approx(xs.mean())
                assert cs.low == pytest.approx(xs.mean() - numeric, rel=1e-7, abs=1e-9)
                assert cs.high == pytest.approx(xs.mean() + numeric, rel=1e-7, abs=1e-9)
                assert cs.half_width == pytest.approx(numeric, rel=1e-7)
    assert bounded and unbounded        # both branches were exercised


def test_first_bounded_n() -> None:
    """At α = 0.05 (c = 0.3) the sequence needs 4 values; at a Bonferroni'd 0.05/8, 5."""
    def first(alpha: float) -> int:
        return next(n for n in range(1, 100) if not math.isinf(half_width(n, 1.0, alpha)))
    assert first(0.05) == 4
    assert first(0.05 / 8) == 5
    assert first(0.2) <= first(0.05) <= first(0.001)


def _miss_rates(alpha: float, trials: int, horizon: int, mu: float, sigma: float,
                seed: int) -> tuple[float, float]:
    """(confidence sequence, peeked fixed-n t-interval): the share of trials in which some
    n ≤ horizon (n ≥ 2) has μ outside the interval."""
    rng = np.random.default_rng(seed)
    x = rng.normal(mu, sigma, (trials, horizon))
    n = np.arange(1, horizon + 1)
    csum = np.cumsum(x, axis=1)
    mean = csum / n
    ss = np.maximum(np.cumsum(x * x, axis=1) - csum * mean, 0.0)
    # half_width scales with √ss: the module's own function at ss = 1 gives every n's factor
    unit = np.array([half_width(int(k), 1.0, alpha) for k in n])
    finite = np.isfinite(unit)
    factor = np.where(finite, unit, 0.0)
    miss_cs = finite & (np.abs(mean - mu) > factor * np.sqrt(ss))
    k = n[1:]
    t = stdtrit(k - 1, 1 - alpha / 2)
    se = np.sqrt(ss[:, 1:] / (k - 1) / k)
    miss_t = np.abs(mean[:, 1:] - mu) > t * se
    return float(miss_cs.any(axis=1).mean()), float(miss_t.any(axis=1).mean())


@pytest.mark.parametrize("alpha,mu,sigma", [(0.05, 0.0, 1.0), (0.1, 3.0, 2.0),
                                            (0.05 / 8, -1.0, 0.5)])
def test_time_uniform_coverage(alpha: float, mu: float, sigma: float) -> None:
    trials = 20000
    cs, fixed_t = _miss_rates(alpha, trials, 50, mu, sigma, seed=7)
    tol = 3 * math.sqrt(alpha * (1 - alpha) / trials)
    assert cs <= alpha + tol, f"P(some n ≤ 50 misses μ) = {cs:.4f} > α = {alpha}"
    # the peeked t-interval breaks the same bound by far: the simulation can see a failure
    assert fixed_t > 2.5 * alpha + tol


def test_simulation_agrees_with_confidence_sequence() -> None:
    """The vectorised check above reads the same intervals as confidence_sequence()."""
    rng = random.Random(3)
    for _ in range(20):
        xs = [rng.gauss(2.0, 1.5) for _ in range(rng.randint(2, 30))]
        cs = confidence_sequence(xs, 0.05)
        mean = sum(xs) / len(xs)
        ss = sum((x - mean) ** 2 for x in xs)
        unit = half_width(len(xs), 1.0, 0.05)
        if math.isinf(unit):
            assert cs.low is None and cs.high is None
        else:
            assert cs.half_width == pytest.approx(unit * math.sqrt(ss), rel=1e-9)


def test_empty_and_single_value() -> None:
    empty = confidence_sequence([], 0.05)
    assert (empty.n, empty.mean, empty.low, empty.high) == (0, None, None, None)
    one = confidence_sequence([4.2], 0.05)
    assert one.n == 1 and one.mean == 4.2
    assert one.low is None and one.high is None and one.half_width is None
    assert math.isinf(half_width(1, 0.0, 0.05)) and math.isinf(half_width(0, 0.0, 0.05))
    # identical values: the interval is the point (from the first bounded n on)
    flat = confidence_sequence([7.25] * 6, 0.05)
    assert flat.low == flat.high == 7.25


def test_narrows_like_root_log_n_over_n() -> None:
    """With the sample variance fixed at σ² = 1 (ss = n − 1) the half-width falls every n,
    and quadrupling n roughly halves it (k grows like log n, so a little less than half)."""
    alpha = 0.05
    widths = [half_width(n, n - 1.0, alpha) for n in range(4, 2001)]
    assert all(b < a for a, b in itertools.pairwise(widths))
    for n in (100, 1000, 10000, 100000):
        ratio = half_width(4 * n, 4 * n - 1.0, alpha) / half_width(n, n - 1.0, alpha)
        assert 0.5 < ratio < 0.56, (n, ratio)
    # against √(k/n) with k ≈ 2 log(1/α) + log(n/c): the asymptotic form of the closed form
    for n in (1000, 100000):
        approx = math.sqrt((2 * math.log(1 / alpha) + math.log((n + DEFAULT_C) / DEFAULT_C))
                           / n)
        assert half_width(n, n - 1.0, alpha) == pytest.approx(approx, rel=0.02)


def test_width_against_the_fixed_t_interval() -> None:
    """The price of peeking: wider than the t-interval at the same n and α — by 1.45–1.8×
    for 10–50 values (c = 0.3), more just after the first bounded n (1.95× at n = 5 and
    α = 0.05; 2.8× at n = 5 and α = 0.05/8)."""
    for alpha in (0.05, 0.01, 0.05 / 8):
        for n in range(5, 51):
            cs = half_width(n, n - 1.0, alpha)
            t = float(stdtrit(n - 1, 1 - alpha / 2)) / math.sqrt(n)
            assert 1.0 < cs / t < (1.8 if n >= 10 else 3.0), (alpha, n, cs / t)


def test_combine_weights_by_n() -> None:
    low, high = combine([(10, 1.0, 3.0), (30, 2.0, 6.0)])
    assert low == pytest.approx((10 * 1.0 + 30 * 2.0) / 40)
    assert high == pytest.approx((10 * 3.0 + 30 * 6.0) / 40)
    # empty parts are ignored, an unbounded part leaves the whole unbounded
    assert combine([(0, None, None), (5, -1.0, 1.0)]) == (-1.0, 1.0)
    assert combine([(5, None, None), (5, -1.0, 1.0)]) == (None, None)
    assert combine([]) == (None, None)
    assert combine([(0, None, None)]) == (None, None)


def test_combine_covers_the_weighted_mean() -> None:
    """Whenever every part covers its own mean, the combination covers the n-weighted mean
    (whatever the n): the pooled interval of stratified arms."""
    rng = random.Random(11)
    for _ in range(500):
        parts, means = [], []
        for _ in range(rng.randint(1, 5)):
            n, mu = rng.randint(1, 60), rng.uniform(-3, 3)
            parts.append((n, mu - rng.uniform(0, 2), mu + rng.uniform(0, 2)))
            means.append((n, mu))
        low, high = combine(parts)
        total = sum(n for n, _ in means)
        pooled = sum(n * mu for n, mu in means) / total
        assert low is not None and high is not None
        assert low - 1e-12 <= pooled <= high + 1e-12
        assert low <= high
