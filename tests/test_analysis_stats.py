"""The decision statistics against independent implementations (scipy, statsmodels).

Stratified contrasts against statsmodels OLS on scenario indicators, the one-scenario case
against scipy's paired t-test, TOST against statsmodels' ttost_paired, the bootstrap against
scipy.stats.bootstrap(method="BCa"), seed planning against statsmodels' TTestPower.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from silisocs_study.analysis.bootstrap import bootstrap
from silisocs_study.analysis.equivalence import tost_p
from silisocs_study.analysis.estimate import stratified
from silisocs_study.analysis.seeds import seeds_needed
from silisocs_study.analysis.verdict import contrast_verdict, hypothesis_verdict

RNG = np.random.default_rng(20261201)


def _strata(sizes, means, sd=1.0):
    return {f"s{i}": list(RNG.normal(m, sd, n)) for i, (n, m) in enumerate(zip(sizes, means))}


def _ols(strata: dict, confidence: float):
    """OLS of the differences on scenario indicators; contrast Σ (n_s/N) β_s."""
    y = np.concatenate([np.asarray(v) for v in strata.values()])
    x = np.zeros((len(y), len(strata)))
    row = 0
    for j, v in enumerate(strata.values()):
        x[row:row + len(v), j] = 1
        row += len(v)
    fit = OLS(y, x).fit()
    weights = np.array([len(v) for v in strata.values()]) / len(y)
    test = fit.t_test(weights)
    low, high = test.conf_int(alpha=1 - confidence)[0]
    return (float(np.ravel(test.effect)[0]), float(np.ravel(test.sd)[0]), float(fit.df_resid),
            low, high, float(np.ravel(test.pvalue)[0]))


@pytest.mark.parametrize("sizes,means", [((8,), (0.4,)), ((5, 7, 6), (0.0, 3.0, -2.0)),
                                         ((2, 2), (1.0, 1.5)), ((10, 3), (0.2, 0.1))])
def test_stratified_matches_ols_on_scenario_indicators(sizes, means):
    data = _strata(sizes, means)
    est = stratified(data, 0.95)
    effect, se, df, low, high, p = _ols(data, 0.95)
    assert est.estimate == pytest.approx(effect, rel=1e-10)
    assert est.se == pytest.approx(se, rel=1e-10)
    assert est.df == df
    assert (est.ci_low, est.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert est.p == pytest.approx(p, rel=1e-8)
    other = est.interval(0.8)
    low80, high80 = _ols(data, 0.8)[3:5]
    assert other == (pytest.approx(low80, rel=1e-9), pytest.approx(high80, rel=1e-9))


def test_one_scenario_is_the_paired_t_test():
    a = RNG.normal(1.0, 1.0, 9)
    b = a - RNG.normal(0.3, 0.5, 9)
    est = stratified({"only": list(a - b)}, 0.9)
    t, p = stats.ttest_rel(a, b)
    assert est.p == pytest.approx(p, rel=1e-10)
    assert est.estimate / est.se == pytest.approx(t, rel=1e-10)
    low, high = DescrStatsW(a - b).tconfint_mean(alpha=0.1)
    assert (est.ci_low, est.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_scenario_shifts_do_not_widen_the_interval():
    """A naive paired t over all pairs counts scenario differences as noise; ours does not."""
    data = _strata((6, 6, 6), (0.0, 5.0, -5.0), sd=0.3)
    est = stratified(data, 0.95)
    naive = DescrStatsW(np.concatenate([np.asarray(v) for v in data.values()]))
    assert est.se < naive.std_mean / 5


def test_degenerate_inputs_say_why():
    assert stratified({}, 0.95).note == "no paired seeds"
    one_each = stratified({"a": [1.0], "b": [2.0]}, 0.95)
    assert one_each.estimate == 1.5 and one_each.ci_low is None and "one seed" in one_each.note
    exact = stratified({"a": [0.5, 0.5, 0.5]}, 0.95)
    assert (exact.ci_low, exact.ci_high, exact.se) == (0.5, 0.5, 0.0)


@pytest.mark.parametrize("shift,delta", [(0.05, 0.5), (0.4, 0.5), (-0.3, 0.2), (0.0, 1.0)])
def test_tost_matches_statsmodels_ttost_paired(shift, delta):
    a = RNG.normal(2.0, 1.0, 12)
    b = a - shift - RNG.normal(0, 0.4, 12)
    est = stratified({"s": list(a - b)}, 0.95)
    p, _, _ = ttost_paired(a, b, -delta, delta)
    assert tost_p(est, delta) == pytest.approx(float(p), rel=1e-8, abs=1e-14)


def test_pooled_tost_equals_one_sided_ols_tests():
    data = _strata((6, 8), (0.1, -0.05), sd=0.4)
    est = stratified(data, 0.95)
    effect, se, df = _ols(data, 0.95)[:3]
    delta = 0.6
    p_low = stats.t.sf((effect + delta) / se, df)
    p_high = stats.t.cdf((effect - delta) / se, df)
    assert tost_p(est, delta) == pytest.approx(max(p_low, p_high), rel=1e-9)
    # equivalent at α exactly when the (1 − 2α) interval lies inside ±δ
    low, high = est.interval(0.9)
    assert (tost_p(est, delta) < 0.05) == (-delta < low and high < delta)


@pytest.mark.parametrize("n", [8, 20])
def test_bootstrap_bca_matches_scipy_on_one_scenario(n):
    d = RNG.gamma(2.0, 1.0, n)          # skewed: BCa and percentile differ
    ours = bootstrap({"s": list(d)}, (0.95,), resamples=40000, seed=1)
    theirs = stats.bootstrap((d,), np.mean, method="BCa", n_resamples=40000,
                             confidence_level=0.95, random_state=2).confidence_interval
    width = theirs.high - theirs.low
    assert ours.method == "BCa"
    assert ours.bounds[0.95][0] == pytest.approx(theirs.low, abs=0.04 * width)
    assert ours.bounds[0.95][1] == pytest.approx(theirs.high, abs=0.04 * width)


def test_bootstrap_resamples_within_scenario():
    """Scenario means 0 and 10: resampling across scenarios would spread the pooled mean by
    several units; within them the spread is that of the noise only."""
    data = _strata((10, 10), (0.0, 10.0), sd=0.2)
    out = bootstrap(data, (0.95,), resamples=4000, seed=3)
    low, high = out.bounds[0.95]
    est = stratified(data, 0.95)
    assert low < est.estimate < high
    assert high - low < 2 * (est.ci_high - est.ci_low)


def test_bootstrap_is_reproducible_and_exact_when_constant():
    data = {"a": [1.0, 2.0, 4.0], "b": [0.0, 1.0]}
    first = bootstrap(data, (0.9,), resamples=500, seed=9)
    assert first == bootstrap(data, (0.9,), resamples=500, seed=9)
    assert bootstrap({"a": [0.2, 0.2]}, (0.9,)).method == "exact"
    assert bootstrap({"a": [0.2]}, (0.9,)) is None


@pytest.mark.parametrize("sd,delta,power,alpha", [(1.0, 0.5, 0.8, 0.05), (2.0, 1.0, 0.9, 0.05),
                                                  (0.3, 0.1, 0.8, 0.01)])
def test_seed_planning_by_power_matches_statsmodels(sd, delta, power, alpha):
    expected = math.ceil(TTestPower().solve_power(effect_size=delta / sd, alpha=alpha,
                                                  power=power, alternative="two-sided"))
    assert seeds_needed(sd, 1, delta, alpha, power=power) == expected


@pytest.mark.parametrize("sd,delta,strata", [(1.0, 0.5, 1), (0.7, 0.4, 3), (2.0, 0.3, 5)])
def test_seed_planning_by_precision_is_the_smallest_enough(sd, delta, strata):
    n = seeds_needed(sd, strata, delta, 0.05)

    def half_width(k: int) -> float:   # the t-interval of N = strata·k pairs, by scipy
        t = stats.t.ppf(0.975, strata * (k - 1))
        return t * sd / math.sqrt(strata * k)
    assert half_width(n) <= delta / 2 < half_width(n - 1) if n > 2 else half_width(n) <= delta / 2
    assert seeds_needed(None, 1, delta, 0.05) is None
    assert seeds_needed(sd, 1, None, 0.05) is None
    assert seeds_needed(0.0, 2, delta, 0.05) == 2


@pytest.mark.parametrize("direction,interval,equiv,delta,expected", [
    ("higher", (0.2, 0.9), (0.3, 0.8), 0.1, "supported"),
    ("higher", (-0.9, -0.2), (-0.8, -0.3), 0.1, "refuted"),
    ("lower", (-0.9, -0.2), (-0.8, -0.3), 0.1, "supported"),
    ("two-sided", (-0.9, -0.2), (-0.8, -0.3), None, "supported"),
    ("higher", (-0.05, 0.08), (-0.04, 0.07), 0.1, "equivalent"),
    ("higher", (0.01, 0.08), (0.02, 0.07), 0.1, "equivalent"),   # real but below δ
    ("higher", (-0.2, 0.5), (-0.1, 0.4), 0.1, "inconclusive"),
    ("higher", (-0.2, 0.5), (-0.1, 0.4), None, "inconclusive"),
    ("higher", (None, None), (None, None), 0.1, "inconclusive"),
])
def test_contrast_verdict_rule(direction, interval, equiv, delta, expected):
    assert contrast_verdict(direction, delta, interval, equiv)[0] == expected


def test_hypothesis_verdict_rule():
    assert hypothesis_verdict(["supported", "supported"])[0] == "supported"
    assert hypothesis_verdict(["supported", "refuted"])[0] == "refuted"
    assert hypothesis_verdict(["equivalent", "equivalent"])[0] == "equivalent"
    assert hypothesis_verdict(["supported", "equivalent"])[0] == "inconclusive"
    assert hypothesis_verdict([])[0] == "inconclusive"
