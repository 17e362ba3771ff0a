"""``generated/reports/comparison.png``: one panel per hypothesis.

Each panel shows one metric by condition: the mean with its 95% CI as an error bar, every seed
as a jittered dot, in the condition's fixed colour (:func:`.colors.condition_colors`, the same
as in report.html and built on :func:`silisocs_study.evaluators.plots.label_color`);
scenarios sit side by side within a condition and differ by marker. The contrast against the
reference (difference, Holm p) is written above each other condition. A study without
numeric metrics gets a figure that says why in words, never an empty frame.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

from ..evaluators.plots import short, wrap
from .colors import condition_styles, scenario_markers, study_conditions
from .metrics import metric_words
from .numbers import fmt, fmt_signed
from .summary_md import p_phrase


def _values(block: dict, cond: str, scen: str, metric: str, records_by_id: dict) -> list:
    from .metrics import flat_metrics

    cell = block["statistics"].get(cond, {}).get(scen)
    if not cell:
        return []
    out = []
    for rid in cell["run_ids"]:
        rec = records_by_id.get(rid)
        if rec is not None:
            v = flat_metrics(rec).get(metric)
            if v is not None:
                out.append(v)
    return out


def plot_comparison(analysis: dict, records: list[dict], target: Path,
                    metrics: dict[str, str | None], title: str | None = None) -> Path:
    """Write the figure; ``metrics`` maps hypothesis → metric key to show (None: no data)."""
    from ..evaluators.plots import figure_title

    fig = comparison_figure(analysis, records, metrics, title)
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Title": figure_title(fig)}
    if analysis.get("metrics_note"):
        meta["Description"] = analysis["metrics_note"]
    fig.savefig(target, dpi=150, facecolor="white", metadata=meta)
    return target


def comparison_figure(analysis: dict, records: list[dict], metrics: dict[str, str | None],
                      title: str | None = None):
    """The comparison figure (a matplotlib Figure, not saved): one panel per hypothesis, or
    the reason in words when there is nothing to plot."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    hyps = list(analysis["hypotheses"].items())
    if analysis.get("metrics_note") or not hyps:
        return _reason_figure(title, analysis.get("metrics_note")
                              or "No hypotheses and no runs to compare yet.")
    n = max(1, len(hyps))
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    widest = max((len(b["conditions"]) * max(1, len(b["scenarios"])) for _, b in hyps),
                 default=2)
    width = max(7.0, min(14.0, 2.2 + 1.1 * widest)) * (1 if ncols == 1 else 0.8) * ncols
    fig = Figure(figsize=(width, 5.2 * nrows), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    records_by_id = {r.get("run_id"): r for r in records}
    styles = condition_styles(study_conditions(analysis, records))   # as in report.html
    rng = np.random.default_rng(0)
    if title:
        fig.suptitle(wrap(title, width, 13), fontsize=13, fontweight="bold")
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    for ax in axes[len(hyps):]:
        ax.set_axis_off()
    decided = ((analysis.get("decisions") or {}).get("hypotheses") or {})
    for ax, (hyp, block) in zip(axes, hyps):
        metric = metrics.get(hyp)
        dec = decided.get(hyp) or {}
        only = block["scenarios"][0] if len(block["scenarios"]) == 1 else None
        rows = [r for r in dec.get("contrasts") or []
                if dec.get("interval") == "confseq" and r.get("metric") == metric]
        anytime = {(r["condition"], only if r.get("pooled") else r["scenario"]): r
                   for r in rows if only is not None or not r.get("pooled")}
        pooled = {r["condition"]: r.get("verdict") for r in rows if r.get("pooled")}
        _panel(ax, hyp, {**block, "anytime": anytime, "anytime_pooled": pooled}, metric,
               records_by_id, rng, Line2D, styles)
    return fig


def _reason_figure(title: str | None, reason: str):
    """A figure that states in words why there is nothing to plot (never a blank frame)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 4.0), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(wrap(title, 9.0, 13), fontsize=13, fontweight="bold")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, wrap(reason, 8.0, 11), ha="center", va="center", fontsize=11,
            color="#333333", transform=ax.transAxes)
    ax.set_title("Nothing to plot", fontsize=11, color="#555555")
    return fig


def _why_empty(block: dict, metric: str | None) -> str:
    """Why a panel has no data, in words (never "no data for None")."""
    if not block.get("n_usable"):
        return (f"No usable runs yet ({block['n_records']} record(s), none successful and "
                f"current).")
    if metric is None:
        return block.get("metrics_note") or "No numeric metrics in this hypothesis' runs."
    return (f"None of this hypothesis' {block['n_usable']} usable run(s) reports "
            f"{metric}.")


def _panel(ax, hyp: str, block: dict, metric: str | None, records_by_id: dict, rng,
           Line2D, styles: dict[str, tuple[str, str, str]]) -> None:
    conds = block["conditions"]
    scens = block["scenarios"] or ["—"]
    head = f"{hyp}: {metric_words(metric)}" if metric else hyp
    statement = block.get("statement")
    sub = "\n".join(textwrap.wrap(statement, 70)[:2]) if statement else ""
    ax.set_title(head + (f"\n{sub}" if sub else ""), fontsize=11, loc="left")
    if metric is None or not any(
            metric in cell["metrics"] for sc in block["statistics"].values()
            for cell in sc.values()):
        ax.text(0.5, 0.5, wrap(_why_empty(block, metric), 5.5, 10), ha="center",
                va="center", transform=ax.transAxes, fontsize=10, color="#444444")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    colors = {c: styles[str(c)][0] for c in conds}   # the study's conditions include these
    markers = scenario_markers(scens)
    k = len(scens)
    span = 0.74
    step = span / k
    offsets = [(-span / 2 + step / 2 + i * step) if k > 1 else 0.0 for i in range(k)]
    width = step if k > 1 else 0.5            # room for one scenario's dots + mean
    slots: dict[tuple[str, str], tuple[float, float]] = {}   # (cond, scen) → (x, top)
    n_seeds: set[int] = set()
    lows: list[float] = []
    for si, scen in enumerate(scens):
        dot = markers[scen]
        for ci, cond in enumerate(conds):
            color = colors[str(cond)]
            x = ci + offsets[si]
            vals = _values(block, cond, scen, metric, records_by_id)
            cell = block["statistics"].get(cond, {}).get(scen)
            d = (cell or {}).get("metrics", {}).get(metric) if cell else None
            top = -math.inf
            if vals:   # seeds on the left of the slot, the mean ± CI on the right
                n_seeds.add(len(vals))
                jitter = rng.uniform(-width * 0.1, width * 0.1, len(vals))
                ax.scatter(x - width * 0.18 + jitter, vals, s=30, color=color, alpha=0.6,
                           zorder=3, edgecolors="white", linewidths=0.6,
                           marker=dot)
                top = max(vals)
                lows.append(min(vals))
            if d and d.get("mean") is not None:
                xm = x + width * 0.16
                if d.get("ci_low") is not None:
                    lo, hi = d["mean"] - d["ci_low"], d["ci_high"] - d["mean"]
                    ax.errorbar([xm], [d["mean"]], yerr=[[lo], [hi]], fmt="none", ecolor=color,
                                elinewidth=2, capsize=6 if k < 3 else 4, capthick=2, zorder=4)
                    top = max(top, d["ci_high"])
                    lows.append(d["ci_low"])
                ax.scatter([xm], [d["mean"]], s=95 if k < 3 else 60, marker="D", color=color,
                           edgecolors="black", linewidths=0.8, zorder=5)
            if top > -math.inf:
                slots[(cond, scen)] = (x, top)
    if slots:
        lo_y = min(lows) if lows else min(t for _, t in slots.values())
        hi_y = max(t for _, t in slots.values())
        rng_y = (hi_y - lo_y) or max(abs(hi_y), 1.0)
        ax.set_ylim(lo_y - 0.08 * rng_y, hi_y + 0.30 * rng_y)   # headroom for the labels
    ax.set_xlabel("condition", fontsize=10)
    _annotate(ax, block, metric, conds, scens, slots)
    ax.set_xticks(range(len(conds)))
    slot_in = _slot_inches(ax, len(conds))
    ticks = [wrap(short(c, 60), slot_in, 10) + ("\n(reference)" if c == block["reference"]
                                                else "") for c in conds]
    ax.set_xticklabels(ticks, fontsize=10)
    ax.set_xlim(-0.6, len(conds) - 0.4)
    ax.set_ylabel(metric, fontsize=9)
    ax.tick_params(axis="y", labelsize=9)
    ax.grid(axis="y", alpha=0.3)
    handles = [Line2D([], [], marker="D", linestyle="none", markerfacecolor="white",
                      markeredgecolor="black", markersize=8, label="mean ± 95% CI"),
               Line2D([], [], marker="o", linestyle="none", color="#777777", alpha=0.6,
                      markersize=6, label="one run (seed)" + (
                          f"; {min(n_seeds)} seeds per cell" if len(n_seeds) == 1 else
                          f"; {min(n_seeds)}–{max(n_seeds)} seeds per cell" if n_seeds
                          else ""))]
    handles += [Line2D([], [], marker=markers[s], linestyle="none", color="#555555",
                       markersize=8, label=f"scenario: {short(s, 50)}") for s in scens]
    # below the tick labels and the x label, however many lines they take (in points, so it
    # does not depend on the axes' height): never on top of the "condition" label
    from matplotlib.transforms import offset_copy

    lines = max(t.count("\n") + 1 for t in ticks) + ax.get_xlabel().count("\n") + 1
    below = offset_copy(ax.transAxes, fig=ax.figure, y=-(8 + 13.5 * lines), units="points")
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              bbox_transform=below, ncol=2 if len(handles) > 2 else len(handles),
              frameon=False)


def _slot_inches(ax, n_slots: int) -> float:
    """The width of one condition's slot, from the axes' place in its grid (before layout)."""
    return max(0.8, ax.get_position().width * ax.figure.get_figwidth() / max(1, n_slots))


def _annotate(ax, block: dict, metric: str, conds: list[str], scens: list[str],
              slots: dict[tuple[str, str], tuple[float, float]]) -> None:
    """Above each non-reference slot: its difference from the reference (same scenario) and
    the Holm-adjusted p. One scenario: the full wording; several: a compact Δ / p."""
    rows = {(r["condition"], r["scenario"]): r for r in block["contrasts"]
            if r["metric"] == metric}
    if not rows or not slots:
        return
    ymin, ymax = ax.get_ylim()
    pad = (ymax - ymin) * 0.03
    slot_in = _slot_inches(ax, len(conds))
    compact = len(scens) > 1
    for (cond, scen), (x, top) in slots.items():
        r = rows.get((cond, scen))
        if r is None or r.get("difference") is None:
            continue
        p_text = p_phrase(r["p_holm"], "Holm p") if r.get("p_holm") is not None else None
        seq = (block.get("anytime") or {}).get((cond, scen))
        if seq is not None:   # adaptive stopping: only the anytime-valid interval is valid
            p_text = None
            if compact:   # scenario rows do not decide: the pooled verdict is below
                lines = [f"Δ {fmt_signed(r['difference'])}"]
            else:
                lines = [f"{short(cond, 24)} − {short(r['reference'], 24)} = "
                         f"{fmt_signed(r['difference'])}"]
                lines.append(f"anytime-valid [{fmt(seq.get('cs_low'))}, "
                             f"{fmt(seq.get('cs_high'))}]" if seq.get("cs_low") is not None
                             else "anytime-valid interval: not bounded yet")
                lines.append(f"{seq.get('verdict')} (adaptive stop)")
        elif compact:
            same = "identical values" in (r.get("note") or "")
            lines = [f"Δ {fmt_signed(r['difference'])}",
                     p_text or ("no test (identical)" if same else "no test")]
        else:
            lines = [f"{short(cond, 24)} − {short(r['reference'], 24)} = "
                     f"{fmt_signed(r['difference'])}"]
            if r.get("p") is not None and r.get("ci_low") is not None:
                lines.append(f"95% CI [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]")
            how = "paired" if r.get("design") == "paired" else "Welch"
            why = (r.get("note") or "").split("; ")[-1].removesuffix(": no test")
            lines.append(f"{how}, {p_text}" if p_text else f"no test: {why or 'not enough data'}")
        width = slot_in / (len(scens) if compact else 1)
        ax.annotate(wrap("\n".join(lines), width, 8 if not compact else 7), xy=(x, top + pad),
                    ha="center", va="bottom", fontsize=8 if not compact else 7,
                    color="#222222")
    if compact:
        verdicts = ", ".join(f"{c} {v}" for c, v in (block.get("anytime_pooled") or {}).items())
        note = (f"verdicts pooled over scenarios, from the anytime-valid interval: {verdicts}"
                if block.get("anytime") else "p Holm-adjusted")
        ax.set_xlabel(wrap(f"condition\n(Δ = difference of means from {block['reference']} in "
                           f"the same scenario; {note})", slot_in * len(conds), 9),
                      fontsize=9)


def choose_metrics(analysis: dict, metric: str | None) -> dict[str, str | None]:
    """The metric of each panel: ``--metric`` for all, else each hypothesis' key metric."""
    return {h: (metric or b.get("key_metric")) for h, b in analysis["hypotheses"].items()}


__all__ = ["plot_comparison", "choose_metrics", "fmt"]
