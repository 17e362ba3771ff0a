"""The "Verdicts" section of summary.md: one line per hypothesis, then its pooled contrasts.

Rendered from ``analysis["decisions"]`` (report/decisions.py), the same block report.html,
the workbook and ``silisocs_study.analyze`` show, so every reader sees the same verdicts.
"""
from __future__ import annotations

from .numbers import fmt, fmt_p, fmt_signed


def _ci(low, high) -> str:
    return "—" if low is None or high is None else f"[{fmt(low)}, {fmt(high)}]"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _driving(row: dict, interval: str) -> tuple:
    if interval == "confseq":
        return row.get("cs_low"), row.get("cs_high")
    if interval == "bootstrap" and row.get("boot_low") is not None:
        return row["boot_low"], row["boot_high"]
    return row.get("ci_low"), row.get("ci_high")


def verdict_lines(decisions: dict | None) -> list[str]:
    """Markdown lines (empty when there is nothing to decide)."""
    hyps = (decisions or {}).get("hypotheses") or {}
    if not hyps or decisions is None:
        return []
    out = ["## Verdicts", "",
           f"Settings: {decisions['source']}. {decisions['verdict_rule']} "
           f"{decisions['interval_rule']}", "",
           "| hypothesis | verdict | primary metric | direction | δ | seeds used / needed "
           "| why |", "|---|---|---|---|---|---|---|"]
    for hyp, d in hyps.items():
        used = min(d["seeds_used"].values()) if d["seeds_used"] else 0
        needed = d["seeds_needed"] if d["seeds_needed"] is not None else "—"
        seeds = f"{used} / {needed}"
        if d.get("adaptive"):
            a = d["adaptive"]
            seeds = f"adaptive: {a['seeds_done']} of {a['seeds_fixed']}, {a['seeds_saved']} saved"
        out.append(f"| {_cell(hyp)} | **{d['verdict']}** | {_cell(', '.join(d['metrics']) or '—')}"
                   f" | {d['direction']} | {_cell(d['delta_text'])} | {seeds} "
                   f"| {_cell(d['reason'])} |")
    for hyp, d in hyps.items():
        pooled = [r for r in d["contrasts"] if r["pooled"]]
        if not pooled:
            continue
        conf = d["confidence"] * 100
        if d.get("adaptive"):
            out += ["", f"**{hyp}**: pooled contrasts against {d['reference']} (anytime-valid "
                        f"intervals, α = {d['alpha']:g}, m = {d['m']}; the t-interval is not "
                        f"valid after adaptive stopping)", "",
                    "| condition | metric | pairs | effect | anytime-valid interval | verdict |",
                    "|---|---|---|---|---|---|"]
            for r in pooled:
                effect = fmt_signed(r["estimate"]) if r.get("estimate") is not None else "—"
                out.append(f"| {_cell(r['condition'])} | {_cell(r['metric'])} | {r['n']} | "
                           f"{effect} | {_ci(r.get('cs_low'), r.get('cs_high'))} | "
                           f"{r['verdict']} |")
            out += arm_lines(d["adaptive"])
        else:
            out += ["", f"**{hyp}**: pooled contrasts against {d['reference']} "
                        f"({conf:.4g}% intervals, α = {d['alpha']:g}, m = {d['m']})", "",
                    "| condition | metric | pairs | effect | t CI | bootstrap CI | TOST p | "
                    "verdict |", "|---|---|---|---|---|---|---|---|"]
        for r in ([] if d.get("adaptive") else pooled):
            tost = fmt_p(r["p_tost"]) if r.get("p_tost") is not None else "—"
            effect = fmt_signed(r["estimate"]) if r.get("estimate") is not None else "—"
            out.append(f"| {_cell(r['condition'])} | {_cell(r['metric'])} | {r['n']} | "
                       f"{effect} | {_ci(r['ci_low'], r['ci_high'])} | "
                       f"{_ci(r['boot_low'], r['boot_high'])} | {tost} | {r['verdict']} |")
        for note in d.get("notes") or []:
            out.append(f"- {note}")
        if d.get("seeds_needed_note") and not d.get("adaptive"):
            out.append(f"- seeds needed: {d['seeds_needed_note']}")
    return out + [""]


def arm_lines(block: dict) -> list[str]:
    """The adaptive arms of one hypothesis: state, seeds, saved, interval at the stop."""
    out = ["", f"Adaptive seeds ({block['goal_text']}, on {block['metric']}; {block['method']}):"
               f" {block['seeds_done']} of {block['seeds_fixed']} seeds run, "
               f"{block['seeds_saved']} saved against the fixed design"
               + ("" if block["state"] == "done" else " so far (arms still running)"), "",
           "| arm | scenario | state | seeds | saved | estimate | interval |",
           "|---|---|---|---|---|---|---|"]
    for a in block["arms"]:
        role = " (reference)" if a["role"] == "reference" else ""
        word = f" ({a['verdict']})" if a.get("verdict") and a["role"] == "contrast" else ""
        k = len(a.get("scenarios") or [a["scenario"]])
        saved = a["saved"] * k if a["saved"] is not None else "—"
        each = f" × {k} scenarios" if k > 1 else ""
        out.append(f"| {_cell(a['condition'])}{role} | {_cell(a['scenario'])} | "
                   f"{a['state']}{word} | {a['attempted']} / {a['cap']}{each} | {saved} | "
                   f"{fmt(a['estimate'])} | {_ci(a['low'], a['high'])} |")
    return out + [""]
