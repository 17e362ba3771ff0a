"""Honest summary statistics over replicate seeds: describe, two-arm contrasts, Holm.

Callers pass the values of ONE metric of ONE evaluator for ONE condition × scenario, so
nothing here can pool scenarios or mix evaluators by accident. Every function returns plain
dicts of floats or None — never NaN or inf — and says in ``note`` why a number is missing.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence


def _clean(values: Iterable) -> list[float]:
    out = []
    for v in values:
        if v is None or isinstance(v, str):
            continue
        x = float(v)
        if math.isfinite(x):
            out.append(x)
    return out


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _tcrit(df: float, confidence: float) -> float:
    from scipy.special import stdtrit   # lighter import than scipy.stats (same values)

    return float(stdtrit(df, 0.5 + confidence / 2))


def _pvalue(t: float, df: float) -> float:
    from scipy.special import stdtr

    return float(2.0 * stdtr(df, -abs(t)))


def _var(xs: Sequence[float], mean: float) -> float:
    return math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


# Spread below this fraction of the values' magnitude is floating-point rounding, not data:
# 0.7 - 0.5 and 0.3 - 0.1 differ by 3e-17, which would make d_z = 5e15 and p = 1e-30.
REL_NOISE = 1e-12
ZERO_VARIANCE = "undefined (zero variance)"


def _noise(*groups: Iterable[float]) -> float:
    """The spread that is indistinguishable from rounding for values of this magnitude."""
    scale = max((abs(x) for g in groups for x in g), default=0.0)
    return REL_NOISE * scale


def describe(values: Iterable[float | None], confidence: float = 0.95) -> dict:
    """{n, mean, sd, se, ci_low, ci_high}; CI needs n >= 2 (else None); NaN/inf are dropped."""
    xs = _clean(values)
    n = len(xs)
    out: dict[str, float | None] = {"n": n, "mean": None, "sd": None, "se": None,
                                    "ci_low": None, "ci_high": None}
    if n == 0:
        return out
    mean = math.fsum(xs) / n
    out["mean"] = mean
    if n < 2:
        return out
    sd = math.sqrt(_var(xs, mean))
    if sd <= _noise(xs):
        sd = 0.0          # equal values up to rounding: say 0, not 3e-17
    se = sd / math.sqrt(n)
    half = _tcrit(n - 1, confidence) * se
    out.update(sd=sd, se=se, ci_low=mean - half, ci_high=mean + half)
    return out


def _empty_contrast() -> dict:
    return {"design": None, "test": None, "n": 0, "n_a": 0, "n_b": 0, "mean_a": None,
            "mean_b": None, "difference": None, "ci_low": None, "ci_high": None, "df": None,
            "t": None, "p": None, "effect_size": None, "effect_size_kind": None,
            "effect_size_note": None, "ratio": None, "seeds": [], "note": None}


def contrast(a: Mapping, b: Mapping, confidence: float = 0.95) -> dict:
    """Compare arm ``a`` against arm ``b`` (the reference): difference of means a − b.

    ``a`` and ``b`` map seed → value. When the arms share at least two seeds, the test is a
    paired t-test on the per-seed differences over the *shared seeds only* (unshared runs are
    left out and the note says so); the effect size is Cohen's d_z (mean difference / sd of
    differences). Otherwise it is Welch's t-test on all values, with Cohen's d (pooled sd).
    With fewer than two values in an arm, or zero variance, the difference is still reported
    but ``p``/CI/effect size are None and ``note`` explains why; ``effect_size_note`` says
    why the effect size is undefined (e.g. "undefined (zero variance)"). Spread within
    :data:`REL_NOISE` of the values' magnitude counts as zero: it is rounding, not data.
    """
    out = _empty_contrast()
    xa = {k: float(v) for k, v in a.items() if _clean([v])}
    xb = {k: float(v) for k, v in b.items() if _clean([v])}
    out["n_a"], out["n_b"] = len(xa), len(xb)
    if not xa or not xb:
        out["note"] = "no values in " + ("either arm" if not xa and not xb else
                                         "this condition" if not xa else "the reference")
        return out
    ma = math.fsum(xa.values()) / len(xa)
    mb = math.fsum(xb.values()) / len(xb)
    shared = sorted((k for k in xa if k in xb and k is not None), key=_seed_key)
    if len(shared) >= 2:
        return _paired(out, xa, xb, shared, confidence)
    out.update(mean_a=ma, mean_b=mb, difference=ma - mb, ratio=_ratio(ma, mb),
               seeds=sorted(set(xa) | set(xb), key=_seed_key))
    return _welch(out, list(xa.values()), list(xb.values()), confidence)


def _seed_key(seed) -> tuple:
    return (0, seed, "") if isinstance(seed, (int, float)) else (1, 0, str(seed))


def _ratio(ma: float, mb: float) -> float | None:
    return ma / mb if ma > 0 and mb > 0 else None


def _paired(out: dict, xa: dict, xb: dict, shared: list, confidence: float) -> dict:
    d = [xa[k] - xb[k] for k in shared]
    n = len(d)
    ma = math.fsum(xa[k] for k in shared) / n
    mb = math.fsum(xb[k] for k in shared) / n
    md = math.fsum(d) / n
    out.update(design="paired", test="paired_t", n=n, mean_a=ma, mean_b=mb, difference=md,
               ratio=_ratio(ma, mb), seeds=shared, df=float(n - 1))
    left = (len(xa) - n) + (len(xb) - n)
    notes = [f"paired by seed over the {n} shared seeds"]
    if left:
        notes.append(f"{left} run(s) without a partner seed left out")
    sd = math.sqrt(_var(d, md))
    noise = _noise([xa[k] for k in shared], [xb[k] for k in shared])
    if sd <= noise:
        if abs(md) <= noise:
            md = 0.0
        out["difference"] = md
        out["ci_low"] = out["ci_high"] = md
        notes.append("identical values in both arms: no test" if md == 0 else
                     "the per-seed difference is constant (zero variance): no test")
        out["df"] = out["test"] = None
        out["effect_size_note"] = ZERO_VARIANCE
        out["note"] = "; ".join(notes)
        return out
    se = sd / math.sqrt(n)
    t = md / se
    half = _tcrit(n - 1, confidence) * se
    out.update(ci_low=md - half, ci_high=md + half, t=_finite(t), p=_finite(_pvalue(t, n - 1)),
               effect_size=md / sd, effect_size_kind="d_z", note="; ".join(notes))
    return out


def _welch(out: dict, a: list[float], b: list[float], confidence: float) -> dict:
    na, nb = len(a), len(b)
    out["n"] = na + nb
    out["design"] = "unpaired"
    if na < 2 or nb < 2:
        out["note"] = (f"fewer than 2 runs in {'this condition' if na < 2 else 'the reference'}"
                       f" (n = {na} vs {nb}): no test")
        out["effect_size_note"] = "undefined (fewer than 2 runs in an arm)"
        return out
    out["test"] = "welch_t"
    ma, mb = math.fsum(a) / na, math.fsum(b) / nb
    va, vb = _var(a, ma), _var(b, mb)
    diff = ma - mb
    se2 = va / na + vb / nb
    notes = ["unpaired (the arms share fewer than 2 seeds): Welch t-test"]
    pooled = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    noise = _noise(a, b)
    if math.sqrt(se2) <= noise:
        if abs(diff) <= noise:
            diff = 0.0
        out["difference"] = diff
        out["ci_low"] = out["ci_high"] = diff
        notes.append("identical values in both arms: no test" if diff == 0 else
                     "zero variance in both arms: no test")
        out["test"] = None
        out["effect_size_note"] = ZERO_VARIANCE
        out["note"] = "; ".join(notes)
        return out
    df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    se = math.sqrt(se2)
    t = diff / se
    half = _tcrit(df, confidence) * se
    out.update(ci_low=diff - half, ci_high=diff + half, df=df, t=_finite(t),
               p=_finite(_pvalue(t, df)), note="; ".join(notes))
    if pooled > noise:
        out.update(effect_size=diff / pooled, effect_size_kind="d")
    else:
        out["effect_size_note"] = ZERO_VARIANCE
    return out


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni step-down adjusted p-values (None stays None, outside the family).

    With m p-values sorted ascending p(1) ≤ … ≤ p(m): adjusted p(i) = max over j ≤ i of
    min(1, (m − j + 1) · p(j)). Returned in the input order.
    """
    present = [(i, p) for i, p in enumerate(pvalues) if p is not None]
    m = len(present)
    order = sorted(present, key=lambda ip: ip[1])   # stable: ties keep input order
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (i, p) in enumerate(order):
        adj = min(1.0, (m - rank) * float(p))
        running = max(running, adj)
        out[i] = running
    return out
