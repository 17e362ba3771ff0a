"""The verdict cards of ``report.html``: one per hypothesis, from ``analysis["decisions"]``.

Read defensively: the decisions block is produced elsewhere and may be partial (a missing
key, a number that is not one); a card then shows '—' rather than breaking the page.
"""
from __future__ import annotations

from typing import Any

from .numbers import finite_number, fmt, fmt_p, fmt_signed

VERDICTS = ("supported", "refuted", "equivalent", "inconclusive")
DIRECTION = {"higher": "predicted higher than the reference",
             "lower": "predicted lower than the reference",
             "two-sided": "any difference from the reference (two-sided)"}
NUMBERS = ("estimate", "ci_low", "ci_high", "boot_low", "boot_high", "cs_low", "cs_high", "p",
           "p_holm")
ARM_STATES = ("running", "decided", "capped")
GREY = "#777777"


def listed(dec: dict) -> list[str]:
    """The decision's primary metric keys (one string or a list)."""
    found = dec.get("metrics") or []
    if isinstance(found, str):
        return [found]
    return [str(m) for m in found] if isinstance(found, (list, tuple)) else []


def contrast_rows(dec: dict) -> list[dict]:
    """The decision's contrast rows, numbers checked (anything else is dropped or None)."""
    rows = dec.get("contrasts")
    if not isinstance(rows, list):
        return []
    return [{**r, **{k: finite_number(r.get(k)) for k in NUMBERS}} for r in rows
            if isinstance(r, dict)]


def drive(row: dict, interval: str) -> tuple[float | None, float | None, str]:
    """The interval that drives the verdict: the confidence sequence of an adaptive
    hypothesis, bootstrap when chosen and present, else t."""
    if interval == "confseq":
        return row.get("cs_low"), row.get("cs_high"), "anytime-valid"
    if interval == "bootstrap" and row.get("boot_low") is not None:
        return row.get("boot_low"), row.get("boot_high"), "bootstrap"
    return row.get("ci_low"), row.get("ci_high"), "t"


def verdict_class(word: Any) -> str:
    return word if word in VERDICTS else "inconclusive"


def card(hyp: str, dec: dict, colors: dict[str, str], block: dict | None) -> dict:
    """What one card shows: the claim, the rule's settings, the pooled effect of every
    condition on every primary metric (a small table), the verdict and why, the seeds."""
    verdict = str(dec.get("verdict") or "inconclusive")
    interval = str(dec.get("interval") or "t")
    metrics = listed(dec)
    rows = contrast_rows(dec)
    pooled: dict[str, dict[str, dict]] = {}
    for row in rows:
        if row.get("pooled"):
            pooled.setdefault(str(row.get("condition")), {})[str(row.get("metric"))] = row
    columns = metrics or list(dict.fromkeys(m for per in pooled.values() for m in per))
    effects = [{"condition": cond, "color": colors.get(cond, GREY),
                "cells": [_cell(per.get(m), cond, m, interval) for m in columns]}
               for cond, per in pooled.items()]
    claim = dec.get("claim") or (block or {}).get("statement") or (block or {}).get("prediction")
    notes: list = dec["notes"] if isinstance(dec.get("notes"), list) else []
    used: dict = dec["seeds_used"] if isinstance(dec.get("seeds_used"), dict) else {}
    return {"id": hyp, "claim": claim, "metrics": metrics, "columns": columns,
            "direction": _direction(dec, rows), "notes": [str(n) for n in notes if n],
            "delta": dec.get("delta_text") or fmt(finite_number(dec.get("delta"))),
            "alpha": dec.get("alpha"), "reference": dec.get("reference"),
            "interval": "anytime-valid" if interval == "confseq" else interval,
            "verdict": verdict, "vclass": verdict_class(verdict), "reason": dec.get("reason"),
            "effects": effects, "seeds_used": _seeds(used, colors),
            "seeds_needed": dec.get("seeds_needed"),
            "seeds_needed_note": dec.get("seeds_needed_note"),
            "adaptive": _adaptive(dec.get("adaptive"), colors)}


def _adaptive(block: Any, colors: dict[str, str]) -> dict | None:
    """An adaptive hypothesis' seeds and arms, formatted for the card."""
    if not isinstance(block, dict) or not isinstance(block.get("arms"), list):
        return None
    arms = []
    for arm in block["arms"]:
        if not isinstance(arm, dict):
            continue
        lo, hi = finite_number(arm.get("low")), finite_number(arm.get("high"))
        est = finite_number(arm.get("estimate"))
        state = str(arm.get("state"))
        k = len(arm.get("scenarios") or [None]) if isinstance(arm.get("scenarios"), list) else 1
        arms.append({"condition": arm.get("condition"), "scenario": arm.get("scenario"),
                     "color": colors.get(str(arm.get("condition")), GREY),
                     "role": arm.get("role"), "state": state,
                     "sclass": state if state in ARM_STATES else "running",
                     "verdict": arm.get("verdict") if arm.get("role") == "contrast" else None,
                     "seeds": f"{arm.get('attempted')} / {arm.get('cap')}"
                              + (f" × {k} scenarios" if k > 1 else ""),
                     "saved": arm["saved"] * k if isinstance(arm.get("saved"), int) else None,
                     "interval": (f"{fmt(est)} [{fmt(lo)}, {fmt(hi)}]" if lo is not None
                                  and hi is not None else f"{fmt(est)} (unbounded yet)"),
                     "reason": arm.get("reason")})
    return {"goal": block.get("goal_text"), "metric": block.get("metric"),
            "method": block.get("method"), "done": block.get("seeds_done"),
            "fixed": block.get("seeds_fixed"), "saved": block.get("seeds_saved"),
            "running": block.get("state") != "done", "arms": arms,
            "settings": f"min_seeds {block.get('min_seeds')}, max_seeds "
                        f"{block.get('max_seeds') or 'all listed'}, round_size "
                        f"{block.get('round_size')}, α = {block.get('alpha')}"}


def _cell(row: dict | None, cond: str, metric: str, interval: str) -> dict | None:
    """One pooled effect: its estimate and interval, its verdict, the rest as a tooltip."""
    if row is None:
        return None
    lo, hi, how = drive(row, interval)
    if row.get("estimate") is None:
        text = "no estimate"
    else:
        text = fmt_signed(row["estimate"])
        if lo is not None and hi is not None:
            text += f" [{fmt(lo)}, {fmt(hi)}]"
    word = str(row.get("verdict") or "—")
    tip = [f"{cond} − {row.get('reference')} on {metric}: {text} ({how} interval)"]
    tip += [f"{k} {fmt_p(row[k]) if k == 'p' else row[k]}" for k in ("n", "p")
            if row.get(k) is not None]
    tip += [f"verdict {word}"] + ([str(row["note"])] if row.get("note") else [])
    return {"text": text, "word": word, "vclass": verdict_class(word), "title": "; ".join(tip)}


def _direction(dec: dict, rows: list[dict]) -> str:
    """The predicted direction in words; "per condition": each pooled row says its own."""
    direction = str(dec.get("direction"))
    if direction in DIRECTION:
        return DIRECTION[direction]
    per = {str(r.get("condition")): r.get("direction") for r in rows
           if r.get("pooled") and r.get("direction")}
    return "; ".join(f"{c}: {DIRECTION.get(str(d), d)}" for c, d in per.items()) or direction


def _seeds(used: dict, colors: dict[str, str]) -> list[tuple[str, Any, str | None]]:
    """(condition, seeds, colour); one entry "each condition" when they all have as many."""
    if len(used) > 3 and len({str(n) for n in used.values()}) == 1:
        return [("each condition", next(iter(used.values())), None)]
    return [(str(c), n, colors.get(str(c), GREY)) for c, n in used.items()]
