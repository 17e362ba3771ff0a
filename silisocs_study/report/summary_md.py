"""``generated/reports/summary.md``: the study's question, and per hypothesis what the data say.

Wording is deliberately careful: a contrast is "consistent with the prediction" only when its
Holm-adjusted p is below α and its sign matches a direction the prediction states; with few
seeds the reading says the result is preliminary; "no clear difference" is never "no effect".
"""
from __future__ import annotations

from typing import Any

from .contrasts import predicted_direction, ranked_contrasts
from .metrics import metric_words
from .numbers import fmt, fmt_p, fmt_signed  # noqa: F401 - re-exported
from .verdicts_md import verdict_lines

MAX_ROWS = 12
SMALL_N = 5


def p_phrase(p: Any, label: str = "p") -> str:
    """A p-value in running text: 'Holm p < 0.001', 'p = 0.034' (never 'p = < 0.001')."""
    if p is None:
        return f"{label}: none (no test)"
    text = fmt_p(p)
    return f"{label} {text}" if text.startswith("<") else f"{label} = {text}"


def effect_text(row: dict) -> str:
    """'d_z = 1.23', or why it is undefined ('undefined (zero variance)'), or '—'."""
    if row.get("effect_size") is not None:
        return f"{row['effect_size_kind']} = {row['effect_size']:.2f}"
    return row.get("effect_size_note") or "—"


def _ci(lo: Any, hi: Any) -> str:
    return "—" if lo is None or hi is None else f"[{fmt(lo)}, {fmt(hi)}]"


def _design(row: dict) -> str:
    if row.get("design") == "paired":
        return f"paired over {row['n']} seeds"
    if row.get("design") == "unpaired":
        return f"Welch, n = {row['n_a']} vs {row['n_b']}"
    return f"n = {row['n_a']} vs {row['n_b']}"


def reading(row: dict, prediction: Any, alpha: float, family: int | None = None) -> str:
    """One plain-words sentence about one contrast."""
    c, ref, s = row["condition"], row["reference"], row["scenario"]
    words = metric_words(row["metric"])
    if row.get("difference") is None:
        return (f"In {s}, {c} vs {ref} on {words}: no comparison possible "
                f"({row.get('note') or 'no data'}).")
    if row.get("ratio") is not None and abs(row["ratio"] - 1) >= 0.005:
        head = f"In {s}, {c} has {row['ratio']:.2f}× the {words} of {ref}"
        means = f"mean {fmt(row['mean_a'])} vs {fmt(row['mean_b'])}; "
    else:
        head = (f"In {s}, mean {words} is {fmt(row['mean_a'])} for {c} and "
                f"{fmt(row['mean_b'])} for {ref}")
        means = ""
    stats = [f"difference {fmt_signed(row['difference'])}"]
    if row.get("ci_low") is not None and row.get("p") is not None:
        stats.append(f"95% CI {_ci(row['ci_low'], row['ci_high'])}")
    stats.append(_design(row))
    if row.get("p_holm") is not None:
        stats.append(p_phrase(row["p_holm"], "Holm p"))
    sentence = f"{head} ({means}{', '.join(stats)})"
    direction = predicted_direction(prediction, c, ref)
    sign = (row["difference"] > 0) - (row["difference"] < 0)
    n_min = min(row.get("n_a") or 0, row.get("n_b") or 0)
    note = row.get("note") or ""
    if row.get("p_holm") is None:
        if "identical values" in note:
            verdict = "identical in both arms, so there is nothing to test"
        elif "constant" in note:
            verdict = ("the difference is the same for every seed (zero variance), so no "
                       "t-test is possible and the effect size is undefined")
        else:
            verdict = "no test was possible: " + (note.split("; ")[-1] or "not enough data")
    elif row["p_holm"] < alpha:
        if direction is None:
            verdict = "a clear difference; the prediction states no direction to compare with"
        elif sign == direction:
            verdict = "consistent with the prediction"
        else:
            verdict = "opposite to the prediction"
    elif row.get("p") is not None and row["p"] < alpha:
        k = family or "all"
        where = ("in the predicted direction" if direction is not None and sign == direction
                 else "against the predicted direction" if direction is not None
                 else "a difference")
        verdict = (f"{where}, but not significant after the Holm correction over {k} "
                   f"contrasts (unadjusted {p_phrase(row['p'])}): suggestive, not conclusive")
    else:
        verdict = ("no clear difference at this sample size (this neither supports nor "
                   "refutes the prediction)")
    tail = ""
    if row.get("p_holm") is not None and n_min < SMALL_N:
        tail = f" With {n_min} seed{'s' if n_min != 1 else ''} per arm, treat this as preliminary."
    return f"{sentence} — {verdict}.{tail}"


def render(study, analysis: dict, counts: dict, generated_at: str, plot_name: str | None,
           plot_metrics: dict[str, str | None] | None = None) -> str:
    lines: list[str] = []
    lines.append(f"# {study.name} — study report")
    lines.append("")
    q = study.meta.get("question")
    if q:
        lines.append(f"**Question:** {q}")
        lines.append("")
    by = ", ".join(f"{k} {v}" for k, v in counts.get("by_status", {}).items())
    lines.append(f"Generated {generated_at} from {counts.get('records', 0)} run record(s) "
                 f"({by}); {counts.get('usable', 0)} usable for statistics (success or "
                 f"reused, not stale).")
    lines.append("")
    lines.append("Method: every metric is `<evaluator>.<metric>` and summarised per condition "
                 "× scenario over seeds (mean, 95% Student-t CI). Each condition is compared "
                 "with the hypothesis' reference condition per scenario: a paired t-test over "
                 "the seeds both arms share (effect size d_z), else Welch's t-test (Cohen's d). "
                 f"p-values are Holm-adjusted over all contrasts of a hypothesis (α = "
                 f"{analysis['alpha']}).")
    lines += [""] + verdict_lines(analysis.get("decisions"))
    if analysis.get("metrics_note"):
        lines += ["", "## No numeric metrics", "", analysis["metrics_note"]]
        if plot_name:
            lines += ["", f"`{plot_name}` has no data to plot: it states this reason in words."]
    elif plot_name:
        lines.append("")
        lines.append(f"![comparison]({plot_name})")
    for hyp, block in analysis["hypotheses"].items():
        lines.append("")
        lines += _hypothesis(block, analysis["alpha"], (plot_metrics or {}).get(hyp),
                             getattr(study, "display_file", None),
                             study_note=bool(analysis.get("metrics_note")),
                             adaptive=hyp in (getattr(study, "adaptive", None) or {}))
    lines += _warnings(analysis.get("warnings") or [])
    lines.append("")
    return "\n".join(lines)


MAX_WARNINGS = 50


def _warnings(entries: list[dict]) -> list[str]:
    """The runs whose records carry warnings (e.g. nothing written into the run folder)."""
    if not entries:
        return []
    shown = entries[:MAX_WARNINGS]
    head = (f"{len(entries)} run record(s) carry warnings"
            + (f"; the first {len(shown)} are listed:" if len(shown) < len(entries) else ":"))
    out = ["", "## Warnings", "", head, ""]
    for e in shown:
        out.append(f"- `{e['run_id']}` ({e.get('status')}): {'; '.join(e['warnings'])}")
    if len(shown) < len(entries):
        out.append(f"- … and {len(entries) - len(shown)} more (see `generated/records/`).")
    return out


def _hypothesis(block: dict, alpha: float, plot_metric: str | None,
                study_file: str | None = None, study_note: bool = False,
                adaptive: bool = False) -> list[str]:
    out: list[str] = []
    title = block["id"] + (f" — {block['statement']}" if block.get("statement") else "")
    out.append(f"## {title}")
    out.append("")
    if block.get("prediction"):
        out.append(f"- **Prediction:** {block['prediction']}")
    if block.get("independent_variable"):
        out.append(f"- **Independent variable:** `{block['independent_variable']}`")
    out.append(f"- **Status:** {block.get('status') or 'testing'}")
    conds = ", ".join(f"{c} (reference)" if c == block["reference"] else c
                      for c in block["conditions"])
    out.append(f"- **Conditions:** {conds} — reference: {block['reference_source']}")
    out.append(f"- **Scenarios:** {', '.join(block['scenarios']) or '—'}")
    out.append(f"- **Runs used:** {block['n_usable']} of {block['n_records']} record(s)")
    if not block.get("in_study"):
        out.append("- *This hypothesis is no longer in the study file; its records remain.*")
    if block["excluded"]:
        shown = ", ".join(f"{e['run_id']} ({e['reason']})" for e in block["excluded"][:5])
        more = len(block["excluded"]) - 5
        out.append(f"- **Left out:** {shown}{f', and {more} more' if more > 0 else ''}")
    out += _no_metrics(block, study_file)
    out.append("")
    key = plot_metric or block.get("key_metric")
    rows = block["contrasts"]
    if not block["n_usable"]:
        out.append("*No usable runs yet.*")
        return out
    if block.get("metrics_note") and not key and not study_note:
        out += [f"*{block['metrics_note']}*", ""]   # the study-wide note says it otherwise
    if key:
        out.append(f"**Reading** (key metric `{key}`):")
        out.append("")
        if adaptive:
            out += ["*Seeds stopped adaptively: the fixed-sample intervals and p-values here "
                    "describe the seeds that ran; the verdicts above use the anytime-valid "
                    "intervals.*", ""]
        key_rows = [r for r in rows if r["metric"] == key]
        for r in key_rows:
            text = reading(r, block.get("prediction"), alpha, block["holm_family_size"])
            out.append(f"- {text}")
        if not key_rows:
            out.append("- No contrast available for this metric (one condition, or no "
                       "shared scenario with the reference).")
        out.append("")
        out += _cell_table(block, key)
    if rows:
        out += _contrast_table(block, rows, alpha)
    return out


def _no_metrics(block: dict, study_file: str | None) -> list[str]:
    """Usable runs without any evaluator metric are said so (never a silently empty report):
    typically reused runs recorded without evaluation, or a study whose evaluators were
    added after its runs; ``re-evaluate`` evaluates them without running them again."""
    from ..constants import COMMAND

    empty = [(c, s, cell) for c, cells in block["statistics"].items()
             for s, cell in cells.items() if cell.get("n_runs") and not cell.get("metrics")]
    if not empty:
        return []
    n = sum(cell["n_runs"] for _, _, cell in empty)
    reused = sum(1 for _, _, cell in empty for r in cell.get("run_ids") or ()
                 if "__reuse_" in str(r))
    where = ", ".join(f"{c} ({s})" for c, s, _ in empty[:5])
    more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
    study = f" --study {study_file}" if study_file else ""
    return [f"- **No metrics:** {n} usable run(s) carry no evaluator metrics — {where}{more}"
            + (f"; {reused} of them reused" if reused else "")
            + f". `{COMMAND}{study} re-evaluate` evaluates finished runs without running "
            f"them again."]


def _cell_table(block: dict, key: str) -> list[str]:
    out = [f"Per condition × scenario, `{key}`:", "",
           "| condition | scenario | n | mean | sd | 95% CI | seeds |",
           "|---|---|---:|---:|---:|---|---|"]
    for c in block["conditions"]:
        for s, cell in block["statistics"].get(c, {}).items():
            d = cell["metrics"].get(key)
            if d is None:
                out.append(f"| {c} | {s} | 0 | — | — | — | "
                           f"{', '.join(str(x) for x in cell['seeds']) or '—'} |")
                continue
            out.append(f"| {c} | {s} | {d['n']} | {fmt(d['mean'])} | {fmt(d['sd'])} | "
                       f"{_ci(d['ci_low'], d['ci_high'])} | "
                       f"{', '.join(str(x) for x in cell['seeds'])} |")
    out.append("")
    return out


def _contrast_table(block: dict, rows: list[dict], alpha: float) -> list[str]:
    tested = [r for r in rows if r.get("p") is not None]
    ranked = ranked_contrasts(tested)
    shown = ranked[:MAX_ROWS]
    out = [f"**Contrasts against {block['reference']}** — "
           f"{_counts_line(rows, tested, shown, alpha)}", ""]
    if tested:
        out += ["| metric | scenario | condition | mean | reference mean | "
                "difference [95% CI] | design | effect | p | Holm p |",
                "|---|---|---|---:|---:|---|---|---:|---:|---:|"]
    for r in shown:
        eff = effect_text(r)
        out.append(f"| `{r['metric']}` | {r['scenario']} | {r['condition']} | "
                   f"{fmt(r['mean_a'])} | {fmt(r['mean_b'])} | {fmt_signed(r['difference'])} "
                   f"{_ci(r['ci_low'], r['ci_high'])} | {_design(r)} | {eff} | "
                   f"{fmt_p(r['p'])} | {'**' if r.get('significant') else ''}"
                   f"{fmt_p(r['p_holm'])}{'**' if r.get('significant') else ''} |")
    untested = [r for r in rows if r.get("p") is None]
    if untested:
        if tested:
            out.append("")
        out += _untested(rows, untested)
    out.append("")
    return out


def _counts_line(rows: list[dict], tested: list[dict], shown: list[dict], alpha: float) -> str:
    """Counts that agree with the table under them: "n significant", "the first k" and "not
    shown" all count the same population, the tested contrasts."""
    n = len(tested)
    if not n:
        return (f"none of the {len(rows)} contrast(s) could be tested (why, below). All "
                f"{len(rows)} are in `summary.json` and `study.xlsx`.")
    n_sig = sum(1 for r in tested if r.get("significant"))
    sig_shown = sum(1 for r in shown if r.get("significant"))
    text = f"{n_sig} of {n} tested contrast(s) have Holm p < {alpha}. "
    if len(shown) == n:
        text += f"The table shows all {n} (Holm-significant first, then by |effect size|)."
    else:
        text += (f"The table shows the first {len(shown)} of these {n} (Holm-significant "
                 f"first, then by |effect size|)")
        if n_sig > sig_shown:
            text += f"; {n_sig - sig_shown} more significant one(s) are not shown"
        text += "."
    if len(rows) > n:
        text += f" {len(rows) - n} more could not be tested (below)."
    return text + f" All {len(rows)} contrasts are in `summary.json` and `study.xlsx`."


def _untested(rows: list[dict], untested: list[dict]) -> list[str]:
    """Contrasts without a test, grouped by condition × scenario; a condition identical to
    the reference on every metric is called out (its overrides may have no effect)."""
    out: list[str] = []
    per: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        per.setdefault((r["condition"], r["scenario"]), []).append(r)
    for (cond, scen), group in per.items():
        none = [r for r in group if r.get("p") is None]
        if not none:
            continue
        same = [r["metric"] for r in none if "identical values" in (r.get("note") or "")]
        other = [r for r in none if "identical values" not in (r.get("note") or "")]
        ref = group[0]["reference"]
        if same and len(same) == len(group):
            out.append(f"- **{cond} vs {ref} ({scen}): identical on all {len(same)} metrics** "
                       f"— check that {cond}'s overrides actually change the simulation.")
        elif same:
            shown = ", ".join(f"`{m}`" for m in same[:12])
            more = f" and {len(same) - 12} more" if len(same) > 12 else ""
            out.append(f"- {cond} vs {ref} ({scen}): identical in both arms, not tested: "
                       f"{shown}{more}.")
        by_note: dict[str, list[dict]] = {}
        for r in other:
            by_note.setdefault(r.get("note") or "not enough data", []).append(r)
        for note, rs in by_note.items():
            if len(rs) > 1:       # one reason for many metrics: said once
                out.append(f"- {cond} vs {ref} ({scen}): {len(rs)} metrics not tested — "
                           f"{note}.")
        singles = [rs[0] for rs in by_note.values() if len(rs) == 1]
        for r in singles[:6]:
            out.append(f"- {cond} vs {ref} ({scen}), `{r['metric']}`: not tested — "
                       f"{r.get('note') or 'not enough data'}.")
        if len(singles) > 6:
            out.append(f"- {cond} vs {ref} ({scen}): {len(singles) - 6} more metric(s) not "
                       f"tested, each for its own reason (see `summary.json`).")
    return out
