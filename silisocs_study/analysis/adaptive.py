"""Adaptive replication: which arm needs more seeds, decided from an anytime-valid sequence.

An *arm* is one condition × scenario of a hypothesis. Every round the sweeper asks, per arm,
how many of its seeds (in the study's seed order, so an adaptive study is a prefix of the
fixed one) should exist: :func:`arm_state` says whether the arm is still running, decided or
capped, and :func:`target` how far the next round goes. The stopping rule reads Lai's
confidence sequence (:mod:`.confseq`), valid however many rounds look at the data.

Goals:

* ``decide`` — each condition's paired contrast against the hypothesis' reference runs until
  its sequence decides it: excludes 0 (supported, or refuted against the predicted direction)
  or lies inside ±δ (equivalent). By default a condition is one arm over all its scenarios,
  which run in lockstep: seed i contributes the mean over scenarios of its paired differences,
  i.i.d. across seeds, so the sequence narrows with every scenario (the contrast the verdict
  pools). ``per_scenario: true`` makes each condition × scenario its own arm, stopped on its
  own contrast at α/S. Either way each contrast is held to α/m (m primary contrasts,
  Bonferroni), so the chance of any false decision in the hypothesis stays ≤ α. The
  reference runs while a partner does.
* ``half_width`` — each arm's own mean runs until its sequence (at α) is no wider than ±ε
  (absolute, or a share of |mean| like "10%": the relative error of classic simulation tools).

``min_seeds`` come first; ``max_seeds`` is a hard cap (then the arm is *capped*).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .confseq import confidence_sequence
from .verdict import contrast_verdict

GOALS = ("decide", "half_width")
STATES = ("running", "decided", "capped")


@dataclass(frozen=True)
class AdaptiveSettings:
    """One hypothesis' ``adaptive:`` block (study-wide values, hypotheses' own over them)."""
    goal: str = "decide"
    half_width: float | None = None      # the precision goal, ε
    relative: bool = False               # ε is a share of |mean|
    metric: str | None = None            # None: the analysis block's first primary metric
    min_seeds: int = 3
    max_seeds: int | None = None         # None: every seed the study lists
    round_size: int = 2
    alpha: float | None = None           # None: the analysis block's α
    per_scenario: bool = False           # decide: one arm per condition × scenario

    def goal_text(self) -> str:
        if self.goal == "half_width" and self.half_width is not None:
            width = f"{self.half_width * 100:g}% of |mean|" if self.relative else \
                f"{self.half_width:g}"
            return f"each arm's interval within ±{width}"
        return "each contrast decided (excludes 0, or inside ±δ)"


@dataclass(frozen=True)
class ArmState:
    """Where one arm stands: its interval now, its state and the verdict it reached."""
    state: str                       # running | decided | capped
    n: int                           # values the interval uses (pairs, for a contrast)
    estimate: float | None
    low: float | None
    high: float | None
    alpha: float
    verdict: str | None              # contrast: supported/refuted/equivalent/inconclusive;
    reason: str                      #   mean: "precise" | None


def arm_state(values: Sequence[float], *, attempted: int, cap: int,
              settings: AdaptiveSettings, alpha: float, direction: str = "two-sided",
              delta: float | None = None, contrast: bool = True) -> ArmState:
    """The state of one arm from its values so far (a contrast arm: paired differences).
    ``attempted``: seeds with a final record (failed ones too); ``cap``: seeds it may use."""
    cs = confidence_sequence(values, alpha)
    enough = cs.n >= settings.min_seeds
    if contrast:
        word, reason = contrast_verdict(direction, delta, (cs.low, cs.high),
                                        (cs.low, cs.high))
        verdict: str | None = word
        done = enough and word != "inconclusive"
    else:
        limit = _limit(settings, cs.mean)
        precise = cs.half_width is not None and limit is not None and cs.half_width <= limit
        verdict = "precise" if precise else None
        reason = (f"half-width {cs.half_width:.4g} ≤ {limit:.4g}" if precise else
                  "the interval is still wider than the goal" if cs.half_width is not None
                  else "no interval yet")
        done = enough and precise
    if done:
        state = "decided"
    elif attempted >= cap:
        state = "capped"
        reason = f"max_seeds reached ({cap}): {reason}"
    else:
        state = "running"
    return ArmState(state, cs.n, cs.mean, cs.low, cs.high, alpha, verdict, reason)


def _limit(settings: AdaptiveSettings, mean: float | None) -> float | None:
    if settings.half_width is None:
        return None
    if settings.relative:
        return None if mean is None else settings.half_width * abs(mean)
    return settings.half_width


def target(state: str, attempted: int, cap: int, settings: AdaptiveSettings) -> int:
    """How many of the arm's seeds should exist after the next round."""
    if state != "running":
        return min(attempted, cap)
    return min(cap, max(settings.min_seeds, attempted + settings.round_size))
