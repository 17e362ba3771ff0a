"""The ``adaptive:`` block → one :class:`~silisocs_study.analysis.adaptive.AdaptiveSettings`
per adaptive hypothesis (``Study.adaptive``: hypothesis id → settings).

study.yaml (top level, beside ``analysis:``)::

    adaptive:
      decide: true          # stop an arm once its contrast is decided (excludes 0 or ±δ)
      # half_width: 0.5     # …or once its interval is within ±ε (absolute, or "10%" of |mean|)
      metric: action_metrics.interactive_actions_per_agent   # default: analysis: metric
      min_seeds: 3          # before any stop
      max_seeds: 20         # hard cap; default: every seed the study lists
      round_size: 2         # seeds added per running arm per round
      alpha: 0.05           # default: the analysis: block's α
      per_scenario: false   # decide: true — one arm per condition × scenario, each stopping
                            # on its own (default: one arm per condition, scenarios in step)
      hypotheses:
        h2: {enabled: false}          # h2 runs its fixed seeds
        h3: {half_width: "10%"}

An ``experiment.<name>`` spec takes the same keys (without ``hypotheses``) under its own
``adaptive:``; it needs ``mode: iterate``. Every mistake is one line at the file, line and key.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

from ..analysis.adaptive import AdaptiveSettings
from ..analysis.settings import AnalysisSettings
from ..model import Group
from .fields import Section, describe, per_hypothesis

VALUE_KEYS = ("decide", "half_width", "metric", "min_seeds", "max_seeds", "round_size",
              "alpha", "per_scenario")
STUDY_KEYS = VALUE_KEYS + ("hypotheses",)
HYPOTHESIS_KEYS = VALUE_KEYS + ("enabled",)
_PERCENT = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*%\s*\Z")


def _values(sec: Section) -> dict[str, Any]:
    """The keys ``sec`` sets, as AdaptiveSettings fields (absent keys left out)."""
    out: dict[str, Any] = {}
    if sec.has("decide") and sec.has("half_width"):
        raise sec.error("half_width", "give one stopping goal: decide: true or half_width, "
                                      "not both")
    if sec.has("decide"):
        if not sec.bool("decide", True):
            raise sec.error("decide", "decide: false is no goal; give half_width instead, or "
                                      "leave the block out")
        out.update(goal="decide", half_width=None, relative=False)
    if sec.has("half_width"):
        out.update(goal="half_width", **_half_width(sec))
    if sec.has("metric"):
        out["metric"] = sec.str("metric")
    for key, low in (("min_seeds", 2), ("max_seeds", 2), ("round_size", 1)):
        value = sec.int(key, minimum=low)
        if value is not None:
            out[key] = value
    if sec.has("per_scenario"):
        out["per_scenario"] = sec.bool("per_scenario", False)
    if sec.has("alpha"):
        alpha = sec.data["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or \
                not 0 < alpha < 0.5:
            raise sec.error("alpha", f"expected a number in (0, 0.5), got {describe(alpha)}")
        out["alpha"] = float(alpha)
    return out


def _half_width(sec: Section) -> dict[str, Any]:
    value = sec.data["half_width"]
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match and float(match.group(1)) > 0:
            return {"half_width": float(match.group(1)) / 100, "relative": True}
    elif not isinstance(value, bool) and isinstance(value, (int, float)) \
            and math.isfinite(value) and value > 0:
        return {"half_width": float(value), "relative": False}
    raise sec.error("half_width", f"expected a positive number or a share of the mean like "
                                  f"'10%', got {describe(value)}")


def _settings(sec: Section, values: Mapping[str, Any]) -> AdaptiveSettings:
    if "goal" not in values:
        raise sec.error(None, "adaptive: needs a stopping goal: decide: true, or half_width: ε")
    one = AdaptiveSettings(**values)
    if one.max_seeds is not None and one.max_seeds < one.min_seeds:
        raise sec.error("max_seeds", f"max_seeds {one.max_seeds} is below min_seeds "
                                     f"{one.min_seeds}")
    return one


def _check(sec: Section, hyp: str, one: AdaptiveSettings, groups: Sequence[Group],
           analysis: AnalysisSettings) -> AdaptiveSettings:
    """The metric is known; decide needs a reference; max_seeds fits the seeds listed."""
    metric = one.metric or (analysis.for_hypothesis(hyp).metrics or (None,))[0]
    if metric is None:
        raise sec.error(None, f"{hyp}: the adaptive rule needs a metric: set metric: here or "
                              f"in the analysis: block")
    if one.goal == "decide" and len(groups) < 2:
        raise sec.error("decide", f"{hyp} has one condition: decide: true needs a reference "
                                  f"to compare with (use half_width: for one condition)")
    for g in groups:
        listed = len(g.seeds)
        if one.max_seeds is not None and one.max_seeds > listed:
            raise sec.error("max_seeds", f"max_seeds {one.max_seeds} exceeds the {listed} "
                                         f"seed(s) {g.key} lists; list more seeds (the "
                                         f"adaptive design draws them in order)")
        if one.min_seeds > listed:
            raise sec.error("min_seeds", f"min_seeds {one.min_seeds} exceeds the {listed} "
                                         f"seed(s) {g.key} lists")
        if g.mode != "run":
            raise sec.error(None, f"{g.key} reuses earlier runs: an adaptive hypothesis must "
                                  f"run its seeds")
    return AdaptiveSettings(**{**one.__dict__, "metric": metric})


def parse_study_adaptive(top: Section, groups: Sequence[Group],
                         analysis: AnalysisSettings) -> dict[str, AdaptiveSettings]:
    sec = top.section("adaptive")
    if sec is None:
        return {}
    sec.check_keys(STUDY_KEYS)
    base = _values(sec)
    by_hyp: dict[str, list[Group]] = {}
    for g in groups:
        by_hyp.setdefault(g.hypothesis, []).append(g)
    own: dict[str, tuple[Section, dict[str, Any]]] = {}
    for hyp, one in per_hypothesis(sec, by_hyp, HYPOTHESIS_KEYS):
        own[hyp] = (one, _values(one) if one.bool("enabled", True) else {"enabled": False})
    out: dict[str, AdaptiveSettings] = {}
    for hyp, hyp_groups in by_hyp.items():
        where, values = own.get(hyp, (sec, {}))
        if values.get("enabled") is False:
            continue
        merged = {**base, **values}
        if "goal" not in merged and hyp not in own and not base:
            continue
        out[hyp] = _check(where, hyp, _settings(where, merged), hyp_groups, analysis)
    return out


def parse_experiment_adaptive(exp: Section, name: str, group: Group, mode: str,
                              analysis: AnalysisSettings, axes: Mapping[str, Sequence]
                              ) -> dict[str, AdaptiveSettings]:
    sec = exp.section("adaptive")
    if sec is None:
        return {}
    sec.check_keys(VALUE_KEYS)
    if mode != "iterate":
        raise sec.error(None, f"adaptive needs mode: iterate (this experiment samples "
                              f"{describe(mode)} points)")
    one = _settings(sec, _values(sec))
    listed = len(axes.get("seeds") or axes.get("seed") or ())
    for key in ("max_seeds", "min_seeds"):
        value = getattr(one, key)
        if value is not None and value > listed:
            raise sec.error(key, f"{key} {value} exceeds the {listed} seed(s) the axes list; "
                                 f"list more seeds (the adaptive design draws them in order)")
    if not [a for a in axes if a not in ("seed", "seeds")]:
        raise sec.error(None, "adaptive seeds stop per value of an axis; this experiment has "
                              "no axis besides seeds")
    metric = one.metric or (analysis.for_hypothesis(name).metrics or (None,))[0]
    if metric is None:
        raise sec.error(None, "the adaptive rule needs a metric: set metric: here or in the "
                              "analysis: block (a score name of result.json)")
    return {name: AdaptiveSettings(**{**one.__dict__, "metric": metric})}
