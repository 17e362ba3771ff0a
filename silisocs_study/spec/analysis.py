"""The ``analysis:`` block → :class:`~silisocs_study.analysis.settings.AnalysisSettings`.

study.yaml::

    analysis:                      # study-wide values, each optional
      metric: action_metrics.interactive_actions_per_agent   # or metrics: [...]
      direction: higher            # higher | lower | two-sided
      delta: 0.5                   # smallest effect of interest: absolute, or "10%" of the
                                   # reference mean
      alpha: 0.05
      interval: t                  # t | bootstrap: which interval decides
      power: 0.8                   # seed planning by power (default: CI half-width ≤ δ/2)
      half_width: 0.5              # seed planning target, as a fraction of δ
      resamples: 2000              # bootstrap resamples
      hypotheses:
        h1: {direction: higher, delta: 0.5, reference: chronological}

Experiment specs take the same keys plus ``compare:`` (the axis whose values are compared)
and ``reference:`` (one of its values). A hypothesis' own ``analysis:`` stays free text, as
in silisocs. Every mistake is a one-line error at the file, line and key.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

from ..analysis.settings import (DIRECTIONS, INTERVALS, AnalysisSettings, Delta,
                                 HypothesisAnalysis, with_values)
from ..errors import did_you_mean
from .fields import Section, describe, per_hypothesis

VALUE_KEYS = ("metric", "metrics", "direction", "delta", "alpha", "interval", "power",
              "half_width", "resamples")
STUDY_KEYS = VALUE_KEYS + ("hypotheses",)
HYPOTHESIS_KEYS = VALUE_KEYS + ("reference",)
EXPERIMENT_KEYS = VALUE_KEYS + ("compare", "reference")
_PERCENT = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*%\s*\Z")


def _number(sec: Section, key: str, low: float, high: float, *, closed_high: bool = False
            ) -> float | None:
    value = sec.data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise sec.error(key, f"expected a number, got {describe(value)}")
    inside = low < value <= high if closed_high else low < value < high
    if not inside:
        bracket = "]" if closed_high else ")"
        raise sec.error(key, f"must be in ({low:g}, {high:g}{bracket}, got {value:g}")
    return float(value)


def _delta(sec: Section) -> Delta | None:
    value = sec.data.get("delta")
    if value is None:
        return None
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if not match or float(match.group(1)) <= 0:
            raise sec.error("delta", f"expected a positive number or a percentage like '10%', "
                                     f"got {describe(value)}")
        return Delta(float(match.group(1)) / 100, relative=True)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise sec.error("delta", f"expected a positive number or a percentage like '10%', "
                                 f"got {describe(value)}")
    return Delta(float(value))


def _values(sec: Section) -> dict[str, Any]:
    """The value keys ``sec`` sets (absent keys are left out, so levels merge)."""
    out: dict[str, Any] = {}
    if "metric" in sec.data and "metrics" in sec.data:
        raise sec.error("metrics", "give either metric or metrics, not both")
    metrics = sec.str_list("metrics") if "metrics" in sec.data else (
        [sec.str("metric")] if sec.data.get("metric") is not None else None)
    if metrics is not None:
        out["metrics"] = tuple(metrics)
    if sec.has("direction"):
        out["direction"] = sec.choice("direction", DIRECTIONS, "two-sided")
    if sec.has("delta"):
        out["delta"] = _delta(sec)
    for key, low, high in (("alpha", 0.0, 0.5), ("power", 0.0, 1.0)):
        value = _number(sec, key, low, high)
        if value is not None:
            out[key] = value
    half = _number(sec, "half_width", 0.0, 1.0, closed_high=True)
    if half is not None:
        out["half_width"] = half
    if sec.has("interval"):
        out["interval"] = sec.choice("interval", INTERVALS, "t")
    resamples = sec.int("resamples", minimum=100)
    if resamples is not None:
        if resamples > 1_000_000:
            raise sec.error("resamples", f"at most 1000000, got {resamples}")
        out["resamples"] = resamples
    if out:
        out["written"] = True
    return out


def _reference(sec: Section, choices: Sequence[str], what: str) -> str | None:
    ref = sec.str("reference")
    if ref is not None and ref not in choices:
        raise sec.error("reference", f"'{ref}' is not {what}{did_you_mean(ref, choices)}; "
                                     f"choose one of {', '.join(map(str, choices))}")
    return ref


def parse_study_analysis(top: Section, hypotheses: Mapping[str, Sequence[str]]
                         ) -> AnalysisSettings:
    """The block of a study.yaml (``hypotheses``: id → its condition ids)."""
    sec = top.section("analysis")
    if sec is None:
        return AnalysisSettings()
    sec.check_keys(STUDY_KEYS)
    default = with_values(HypothesisAnalysis(), _values(sec))
    per: dict[str, HypothesisAnalysis] = {}
    for hyp, one in per_hypothesis(sec, hypotheses, HYPOTHESIS_KEYS):
        values = _values(one)
        reference = _reference(one, hypotheses[hyp], f"a condition of {hyp}")
        if reference is not None:
            values.update(reference=reference, written=True)
        per[hyp] = with_values(default, values)
    return AnalysisSettings(default=default, hypotheses=per, written=True)


def parse_experiment_analysis(exp: Section, name: str, axes: Mapping[str, Sequence],
                              normalize=lambda axis: axis) -> AnalysisSettings:
    """The block of an ``experiment.<name>`` spec: ``compare`` names a non-seed axis (as
    written, ``agents``, or as its runs name it, ``agent``: ``normalize``)."""
    sec = exp.section("analysis")
    if sec is None:
        return AnalysisSettings()
    sec.check_keys(EXPERIMENT_KEYS)
    values = _values(sec)
    factors = [a for a in axes if a not in ("seed", "seeds")]
    compare = sec.str("compare")
    if compare is not None and compare not in factors:
        compare = normalize(compare) if normalize(compare) in factors else compare
    if compare is not None and compare not in factors:
        raise sec.error("compare", f"'{compare}' is not an axis of this experiment"
                                   f"{did_you_mean(compare, factors)}; axes: "
                                   f"{', '.join(factors) or '(none besides seeds)'}")
    if compare is None and factors:
        compare = next((a for a in factors if len(axes[a]) > 1), factors[0])
    levels = [str(v) for v in axes.get(compare, [])] if compare else []
    reference = _reference(sec, levels, f"a value of axis '{compare}'") if compare else None
    if reference is not None:
        values["reference"] = reference
    one = with_values(HypothesisAnalysis(), values)
    return AnalysisSettings(default=one, hypotheses={name: one}, compare=compare, written=True)
