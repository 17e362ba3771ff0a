"""Where an adaptive study stands, read from its records: one block per adaptive hypothesis.

The blocks are the ``adaptive`` part of each hypothesis' decision in the study's one analysis
(:func:`~.contrasts.analyze`; an experiment through its view), so the sweeper's next round,
``status`` and the reports all read the same arms, intervals and states.
"""
from __future__ import annotations

from typing import Iterable

from ..analysis.adaptive import STATES

ARM_COLUMNS = ("hypothesis", "condition", "scenario", "scenarios", "role", "state", "attempted",
               "planned", "cap", "n", "estimate", "low", "high", "alpha", "verdict", "saved",
               "reason")


def adaptive_blocks(study, records: Iterable[dict], plan=None,
                    analysis: dict | None = None) -> dict[str, dict]:
    """hypothesis → its adaptive block (``analysis``: the study's analysis, when at hand)."""
    if not getattr(study, "adaptive", None):
        return {}
    if analysis is None:
        analysis = _analysis(study, list(records), plan)
    hyps = ((analysis or {}).get("decisions") or {}).get("hypotheses") or {}
    return {h: d["adaptive"] for h, d in hyps.items() if d.get("adaptive")}


def _analysis(study, records: list[dict], plan) -> dict | None:
    if study.kind == "experiment":
        from .experiment import build_results
        from .experiment_decisions import experiment_analysis

        analysis, _ = experiment_analysis(study, records,
                                          build_results(study, records, plan=plan), plan)
        return analysis
    from .contrasts import analyze

    return analyze(study, records)


def arm_of(study, run) -> tuple[str, str, str]:
    """(hypothesis, condition, scenario) of a planned run as the analysis names its arm."""
    if study.kind != "experiment":
        return run.hypothesis, run.condition, run.scenario
    from .experiment_decisions import experiment_place

    cond, stratum = experiment_place(study, run.axes or {})
    return study.name, cond, stratum


def arm_rows(blocks: dict[str, dict]) -> list[dict]:
    """One flat row per arm (status, the workbook, the API)."""
    return [{"hypothesis": hyp, **{k: arm.get(k) for k in ARM_COLUMNS if k != "hypothesis"}}
            for hyp, block in blocks.items() for arm in block["arms"]]


def totals(blocks: dict[str, dict]) -> dict:
    """Seeds done, the fixed design's seeds and the seeds saved, over every adaptive arm."""
    arms = [a for b in blocks.values() for a in b["arms"]]
    counts = {state: sum(1 for a in arms if a["state"] == state) for state in STATES}
    return {"arms": len(arms), **counts,
            "seeds_done": sum(b["seeds_done"] for b in blocks.values()),
            "seeds_fixed": sum(b["seeds_fixed"] for b in blocks.values()),
            "seeds_saved": sum(b["seeds_saved"] for b in blocks.values())}
