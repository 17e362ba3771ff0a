"""The ``analysis:`` block: what each hypothesis claims, on which metric, and what matters.

A study without the block keeps the documented defaults (:data:`DEFAULTS`): the key metric
the report already picks, the direction read from the prediction (else two-sided), no
smallest effect of interest (so no equivalence verdict and no seed planning), α = 0.05, the
t-interval driving the verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

DIRECTIONS = ("higher", "lower", "two-sided")
INTERVALS = ("t", "bootstrap")


@dataclass(frozen=True)
class Delta:
    """The smallest effect of interest: absolute, or a fraction of the reference mean."""
    value: float
    relative: bool = False

    def absolute(self, reference_mean: float | None) -> float | None:
        if not self.relative:
            return self.value
        if reference_mean is None or reference_mean == 0:
            return None
        return abs(reference_mean) * self.value

    def text(self, reference_mean: float | None = None) -> str:
        if not self.relative:
            return f"{self.value:g} (absolute)"
        resolved = self.absolute(reference_mean)
        base = f"{self.value * 100:g}% of the reference mean"
        return base + (f" (= {resolved:.4g})" if resolved is not None else
                       " (no reference mean yet)")


@dataclass(frozen=True)
class HypothesisAnalysis:
    """What one hypothesis' verdict is computed from (None: the default applies)."""
    metrics: tuple[str, ...] = ()           # primary metrics "<eval_id>.<metric>"; () = key metric
    direction: str | None = None            # None: from the prediction, else two-sided
    delta: Delta | None = None
    alpha: float = 0.05
    reference: str | None = None            # None: the hypothesis' reference condition
    interval: str = "t"                     # which interval drives the verdict
    power: float | None = None              # seed planning: power instead of half-width
    half_width: float = 0.5                 # seed planning: target CI half-width, × δ
    resamples: int = 2000                   # bootstrap resamples
    written: bool = False                   # set in the study file (not only defaults)


@dataclass(frozen=True)
class AnalysisSettings:
    """The whole block: study-wide values and per-hypothesis ones over them."""
    default: HypothesisAnalysis = field(default_factory=HypothesisAnalysis)
    hypotheses: dict[str, HypothesisAnalysis] = field(default_factory=dict)
    compare: str | None = None              # experiment specs: the axis whose levels compare
    written: bool = False

    def for_hypothesis(self, hypothesis: str) -> HypothesisAnalysis:
        return self.hypotheses.get(hypothesis, self.default)

    @property
    def source(self) -> str:
        return "the analysis: block of the study file" if self.written else \
            "defaults (the study file has no analysis: block)"


DEFAULTS = AnalysisSettings()


def with_values(base: HypothesisAnalysis, values: dict[str, Any]) -> HypothesisAnalysis:
    """``base`` with the keys a hypothesis sets itself."""
    return replace(base, **values)
