"""The study's ``decisions``: each hypothesis' verdict from its ``analysis:`` settings.

:func:`hypothesis_decision` feeds the per-seed values the report's statistics are built from
(``keyed[(condition, scenario)][metric][seed]``) to :mod:`silisocs_study.analysis.decide`;
:func:`decisions_block` wraps every hypothesis with the rules the report prints.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ..analysis.decide import INTERVAL_RULE, decide_hypothesis
from ..analysis.settings import DEFAULTS, AnalysisSettings
from ..analysis.verdict import VERDICT_RULE
from ..errors import did_you_mean

DIRECTION_WORDS = {1: "higher", -1: "lower"}


def settings_of(study) -> AnalysisSettings:
    settings = getattr(study, "analysis", None)
    return settings if isinstance(settings, AnalysisSettings) else DEFAULTS


def hypothesis_decision(study, hyp: str, block: dict, conds: Mapping[str, list[str]],
                        keyed: Mapping, direction_of: Callable[[Any, str, str], int | None],
                        attempted: Mapping | None = None, planned: Mapping | None = None
                        ) -> dict:
    """The decision block of one hypothesis of the analysis (``block``: its statistics;
    ``attempted``/``planned``: seeds per (condition, scenario), for adaptive hypotheses)."""
    settings = settings_of(study).for_hypothesis(hyp)
    reference = block.get("reference")
    known = _metrics_seen(block)
    notes: list[str] = []
    if settings.metrics:
        metrics = list(settings.metrics)
        for m in metrics:
            if m not in known and known:
                notes.append(f"primary metric '{m}' is reported by no usable run"
                             f"{did_you_mean(m, known)}; metrics are {', '.join(known[:6])}")
    else:
        metrics = [block["key_metric"]] if block.get("key_metric") else []
        if metrics:
            notes.append(f"primary metric not set: the report's key metric {metrics[0]} "
                         f"(set metric: in the analysis: block)")
    claim = block.get("prediction") or block.get("statement")
    directions: dict[str, str] = {}
    for cond in conds:
        if settings.direction is not None:
            directions[cond] = settings.direction
        else:
            sign = direction_of(claim, cond, reference) if reference else None
            directions[cond] = DIRECTION_WORDS.get(sign or 0, "two-sided")
    adaptive = (getattr(study, "adaptive", None) or {}).get(hyp)
    out = decide_hypothesis(hyp, claim, settings, metrics, reference, conds, keyed, directions,
                            adaptive=adaptive, attempted=attempted, planned=planned)
    if settings.direction is None:
        notes.append("direction read from the prediction" if any(
            d != "two-sided" for d in directions.values()) else
            "direction not set and not readable from the prediction: two-sided")
    out["notes"] = notes
    return out


def _metrics_seen(block: dict) -> list[str]:
    seen: dict[str, None] = {}
    for scen in block.get("statistics", {}).values():
        for cell in scen.values():
            for m in cell.get("metrics", {}):
                seen.setdefault(m, None)
    return list(seen)


def decisions_block(study, per_hypothesis: dict[str, dict]) -> dict:
    settings = settings_of(study)
    intervals = {d["interval"] for d in per_hypothesis.values()} or {"t"}
    source = settings.source
    if getattr(study, "kind", "study") == "experiment":
        source = source.replace("study file", "experiment spec")
    return {"source": source, "verdict_rule": VERDICT_RULE,
            "interval_rule": " ".join(INTERVAL_RULE[i] for i in sorted(intervals)),
            "hypotheses": per_hypothesis}


VERDICT_COLUMNS = ("hypothesis", "verdict", "reason", "claim", "metrics", "direction", "delta",
                   "delta_text", "alpha", "m", "reference", "interval", "seeds_used",
                   "seeds_needed", "seeds_needed_note")
CONTRAST_COLUMNS = ("hypothesis", "condition", "reference", "metric", "scenario", "pooled",
                    "direction", "n", "strata", "estimate", "sd", "se", "df", "ci_low",
                    "ci_high", "p", "boot_low", "boot_high", "boot_method", "tost_low",
                    "tost_high", "p_tost", "cs_low", "cs_high", "delta", "verdict", "reason",
                    "note")


def verdict_rows(decisions: dict | None) -> list[dict]:
    """One flat row per hypothesis (the workbook's and the API's verdict table)."""
    rows = []
    for hyp, d in ((decisions or {}).get("hypotheses") or {}).items():
        row = {k: d.get(k) for k in VERDICT_COLUMNS}
        row["hypothesis"] = hyp
        row["metrics"] = ", ".join(d.get("metrics") or [])
        row["seeds_used"] = min(d["seeds_used"].values()) if d.get("seeds_used") else 0
        rows.append(row)
    return rows


def contrast_rows(decisions: dict | None) -> list[dict]:
    """One flat row per decision contrast, pooled and per scenario."""
    return [{"hypothesis": hyp, **{k: r.get(k) for k in CONTRAST_COLUMNS if k != "hypothesis"}}
            for hyp, d in ((decisions or {}).get("hypotheses") or {}).items()
            for r in d.get("contrasts") or []]
