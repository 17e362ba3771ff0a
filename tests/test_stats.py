"""Statistics helpers against numbers computed independently with numpy/scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from silisocs_study.report.stats import contrast, describe, holm


def _t_ci(mean: float, se: float, df: float) -> tuple[float, float]:
    half = st.t.ppf(0.975, df) * se
    return mean - half, mean + half


def test_describe_matches_numpy_and_student_t() -> None:
    xs = [3.1, 4.7, 5.2, 2.9, 4.4]
    d = describe(xs)
    arr = np.array(xs)
    sd = arr.std(ddof=1)
    lo, hi = _t_ci(arr.mean(), sd / math.sqrt(len(xs)), len(xs) - 1)
    assert d["n"] == 5
    assert d["mean"] == pytest.approx(arr.mean())
    assert d["sd"] == pytest.approx(sd)
    assert (d["ci_low"], d["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))


def test_describe_small_and_dirty_inputs() -> None:
    assert describe([]) == {"n": 0, "mean": None, "sd": None, "se": None, "ci_low": None,
                            "ci_high": None}
    one = describe([2.5])
    assert one["n"] == 1 and one["mean"] == 2.5 and one["ci_low"] is None
    d = describe([1.0, float("nan"), None, float("inf"), 3.0])
    assert d["n"] == 2 and d["mean"] == 2.0
    flat = describe([4.0, 4.0, 4.0])
    assert flat["sd"] == 0.0 and flat["ci_low"] == flat["ci_high"] == 4.0


def test_paired_contrast_matches_scipy_ttest_rel() -> None:
    a = {11: 28.7, 12: 27.5, 13: 28.4}
    b = {11: 6.0, 12: 4.7, 13: 5.1}
    r = contrast(a, b)
    seeds = [11, 12, 13]
    xa, xb = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
    ref = st.ttest_rel(xa, xb)
    diff = xa - xb
    lo, hi = _t_ci(diff.mean(), diff.std(ddof=1) / math.sqrt(3), 2)
    assert r["design"] == "paired" and r["test"] == "paired_t"
    assert r["n"] == 3 and r["seeds"] == seeds
    assert r["difference"] == pytest.approx(diff.mean())
    assert r["t"] == pytest.approx(ref.statistic)
    assert r["p"] == pytest.approx(ref.pvalue)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert r["effect_size_kind"] == "d_z"
    assert r["effect_size"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert r["ratio"] == pytest.approx(xa.mean() / xb.mean())


def test_paired_uses_shared_seeds_only_and_says_so() -> None:
    a = {1: 10.0, 2: 12.0, 3: 11.0, 4: 30.0}
    b = {1: 9.0, 2: 10.5, 3: 10.8, 9: -50.0}
    r = contrast(a, b)
    ref = st.ttest_rel([10.0, 12.0, 11.0], [9.0, 10.5, 10.8])
    assert r["design"] == "paired" and r["seeds"] == [1, 2, 3]
    assert r["p"] == pytest.approx(ref.pvalue)
    assert r["mean_a"] == pytest.approx(11.0)      # the unshared seed 4 is left out
    assert "3 shared seeds" in r["note"] and "2 run(s) without a partner" in r["note"]


def test_welch_when_arms_share_fewer_than_two_seeds() -> None:
    a = {1: 5.0, 2: 6.5, 3: 5.5, 4: 7.0}
    b = {11: 3.0, 12: 3.2, 13: 4.9}
    r = contrast(a, b)
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    ref = st.ttest_ind(xa, xb, equal_var=False)
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    df = (va + vb) ** 2 / (va ** 2 / (len(xa) - 1) + vb ** 2 / (len(xb) - 1))
    lo, hi = _t_ci(xa.mean() - xb.mean(), math.sqrt(va + vb), df)
    pooled = math.sqrt(((len(xa) - 1) * xa.var(ddof=1) + (len(xb) - 1) * xb.var(ddof=1))
                       / (len(xa) + len(xb) - 2))
    assert r["design"] == "unpaired" and r["test"] == "welch_t"
    assert r["p"] == pytest.approx(ref.pvalue)
    assert r["t"] == pytest.approx(ref.statistic)
    assert r["df"] == pytest.approx(df)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert r["effect_size_kind"] == "d"
    assert r["effect_size"] == pytest.approx((xa.mean() - xb.mean()) / pooled)
    # one shared seed is not enough to pair: still Welch
    assert contrast({1: 1.0, 2: 2.0, 3: 2.5}, {1: 0.5, 7: 0.1, 8: 0.3})["design"] == "unpaired"


def test_zero_variance_and_tiny_samples_give_none_with_a_note() -> None:
    same = contrast({1: 5.0, 2: 5.0, 3: 5.0}, {1: 5.0, 2: 5.0, 3: 5.0})
    assert same["difference"] == 0 and same["p"] is None and same["effect_size"] is None
    assert "identical values" in same["note"]
    shift = contrast({1: 6.0, 2: 7.0, 3: 8.0}, {1: 5.0, 2: 6.0, 3: 7.0})
    assert shift["difference"] == pytest.approx(1.0) and shift["p"] is None
    assert "constant" in shift["note"]
    flat = contrast({1: 2.0, 2: 2.0}, {7: 1.0, 8: 1.0})   # Welch, both arms constant
    assert flat["p"] is None and flat["difference"] == 1.0 and "zero variance" in flat["note"]
    small = contrast({1: 2.0}, {1: 1.0, 2: 1.5})
    assert small["p"] is None and small["difference"] == pytest.approx(0.75)
    assert "fewer than 2" in small["note"]
    empty = contrast({}, {1: 1.0})
    assert empty["difference"] is None and "no values" in empty["note"]
    for r in (same, shift, flat, small, empty):
        assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in r.values())


def test_holm_known_example() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([]) == [] and holm([None]) == [None]
    # ties and the cap at 1
    assert holm([0.02, 0.02, 0.6]) == pytest.approx([0.06, 0.06, 0.6])


def test_holm_matches_an_independent_implementation() -> None:
    rng = np.random.default_rng(3)
    ps = list(rng.uniform(0, 0.2, 17))
    order = np.argsort(ps)
    m = len(ps)
    expected = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        expected[i] = running
    assert holm(ps) == pytest.approx(list(expected))
