"""``re-evaluate``: the study's evaluators again on finished runs; nothing is run."""
from __future__ import annotations

from typing import Sequence

from ..launch.reevaluate import ReEvaluation, re_evaluate
from ..plan import Plan, build_plan
from ..spec.study_v1 import python_executable


def re_evaluate_plan(plan: Plan, evaluators: Sequence[str] | None = None, *,
                     wait: bool = False) -> ReEvaluation:
    """Re-evaluate ``plan``'s finished runs (printed as the verb prints it)."""
    full = build_plan(plan.study) if plan.filters else None
    return re_evaluate(plan, evaluators, python=python_executable(), wait=wait, full_plan=full)
