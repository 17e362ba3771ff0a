"""Seeds used and needed per hypothesis, from the records so far (``status``, ``plan
--seeds-needed``): the decisions of the report, computed now, in a few lines."""
from __future__ import annotations


def current_decisions(study) -> dict | None:
    """The decisions block from every record of the study as it is now (None: no records)."""
    from ..ledger import Ledger

    if getattr(study, "kind", "study") == "experiment":
        from .experiment import build_results
        from .experiment_decisions import experiment_decisions

        records = list(Ledger(study.generated).all().values())
        return (experiment_decisions(study, build_results(study, records), records)
                if records else None)
    from .contrasts import analyze
    from .organize import current_records

    records = current_records(study)
    return analyze(study, records).get("decisions") if records else None


def seed_summary(decisions: dict | None) -> list[dict]:
    """Per hypothesis: verdict, seeds used (fewest per condition × scenario), needed, more."""
    out = []
    for hyp, d in ((decisions or {}).get("hypotheses") or {}).items():
        used = min(d["seeds_used"].values()) if d.get("seeds_used") else 0
        needed = d.get("seeds_needed")
        out.append({"hypothesis": hyp, "verdict": d["verdict"], "seeds_used": used,
                    "seeds_needed": needed,
                    "more": max(0, needed - used) if needed is not None else None,
                    "note": d.get("seeds_needed_note")})
    return out


def seed_lines(decisions: dict | None) -> list[str]:
    lines = []
    hyps = (decisions or {}).get("hypotheses") or {}
    for row in seed_summary(decisions):
        adaptive = (hyps.get(row["hypothesis"]) or {}).get("adaptive")
        if adaptive:   # seeds stop per arm: the fixed design's planner does not apply
            lines += adaptive_lines(row["hypothesis"], row["verdict"], adaptive)
            continue
        head = f"  {row['hypothesis']}: {row['verdict']}; {row['seeds_used']} seed(s) per " \
               f"condition × scenario"
        if row["seeds_needed"] is None:
            lines.append(f"{head}; seeds needed: unknown ({row['note']})")
        else:
            more = f", {row['more']} more" if row["more"] else ", enough"
            lines.append(f"{head}; needed {row['seeds_needed']}{more} ({row['note']})")
    return lines


def adaptive_lines(hyp: str, verdict: str, block: dict) -> list[str]:
    """An adaptive hypothesis: its verdict, seeds done and saved, and one line per arm."""
    from .numbers import fmt

    state = "every arm has stopped" if block["state"] == "done" else "arms still running"
    lines = [f"  {hyp}: {verdict}; adaptive ({block['goal_text']}, {block['metric']}): "
             f"{state}; {block['seeds_done']} of {block['seeds_fixed']} seeds run, "
             f"{block['seeds_saved']} saved against the fixed design"]
    for arm in block["arms"]:
        interval = (f"[{fmt(arm['low'])}, {fmt(arm['high'])}]" if arm["low"] is not None
                    else "unbounded yet")
        what = "difference" if arm["role"] == "contrast" else "mean"
        word = f" {arm['verdict']}" if arm["verdict"] and arm["role"] == "contrast" else ""
        k = len(arm.get("scenarios") or [arm["scenario"]])
        each = f" in each of {k} scenarios" if k > 1 else ""
        saved = f", {arm['saved'] * k} saved" if arm["saved"] else ""
        lines.append(f"    {arm['condition']} @ {arm['scenario']}: {arm['state']}{word}; "
                     f"{arm['attempted']}/{arm['cap']} seeds{each}{saved}; {what} "
                     f"{fmt(arm['estimate'])} {interval}")
    return lines
