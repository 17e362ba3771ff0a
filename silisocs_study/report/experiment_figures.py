"""Experiment figures and workbook: ``reports/comparison.png`` and ``reports/results.xlsx``.

The figure shows the primary score per value of the main axis (x), a second axis as colour
groups when there is one, the mean with its 95% CI as an error bar, and every run (seed) as a
jittered dot, so a reader sees both the estimate and the spread behind it. Each value keeps its
fixed colour (:func:`.colors.condition_styles`) in every figure.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..status import COMPLETE_VALUES


def plot_axes(stats: dict) -> tuple[str | None, str | None, list[str]]:
    """(x axis, colour axis, pooled axes) among the non-seed axes that vary.

    x is the varying axis with the most values; colour is the remaining one with the fewest
    (ties keep the authored order); any further varying axes are pooled.
    """
    axes = stats["axes"]
    varying = [a for a in stats["factors"] if len(axes[a]) > 1]
    if not varying:
        return None, None, []
    x = max(varying, key=lambda a: (len(axes[a]), -varying.index(a)))
    rest = [a for a in varying if a != x]
    colour = min(rest, key=lambda a: (len(axes[a]), rest.index(a))) if rest else None
    return x, colour, [a for a in rest if a != colour]


def write_comparison_png(target: Path, study, results: list[dict], stats: dict) -> Path:
    """``reports/comparison.png`` (see :func:`comparison_figure`)."""
    return _save(comparison_figure(study, results, stats), target)


def comparison_figure(study, results: list[dict], stats: dict):
    """The experiment's figure (a matplotlib Figure, not saved); with no scored run, the
    reason in words."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    from ..evaluators.plots import short, wrap
    from .colors import condition_styles
    from .experiment_summary import no_scores_reason
    from .numbers import finite_number
    from .stats import describe

    primary = stats["primary"]
    axes = stats["axes"]
    x_axis, c_axis, pooled = plot_axes(stats)
    scored = [r for r in results if r.get("status") in COMPLETE_VALUES
              and primary and finite_number((r.get("scores") or {}).get(primary)) is not None]
    xs = [v for v in axes[x_axis] if any(r.get(x_axis) == v for r in scored)] \
        if x_axis else [None]
    cs = [v for v in axes[c_axis] if any(r.get(c_axis) == v for r in scored)] \
        if c_axis else [None]
    n_x, n_c = max(1, len(xs)), max(1, len(cs))
    width = max(6.4, min(16.0, 1.2 + n_x * (0.9 + 0.35 * n_c)))
    fig = Figure(figsize=(width, 5.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    name = study.name if study else "experiment"
    if not scored:
        ax.text(0.5, 0.5, wrap(no_scores_reason(results, primary), width - 0.8, 11),
                ha="center", va="center", fontsize=11, transform=ax.transAxes,
                color="#333333")
        ax.set_axis_off()
        fig.suptitle(f"Experiment {name}", fontsize=13, fontweight="bold")
        return fig

    # over the axis' every value, as report.html: colours do not move when a value has no score
    shown = axes[c_axis] if c_axis else (axes[x_axis] if x_axis else xs)
    styles = condition_styles([str(v) for v in shown])
    import numpy as np

    rng = np.random.default_rng(0)
    slot = 0.8 / n_c
    tick_labels = []
    label_means = n_x * n_c <= 12
    sizes: dict[tuple[Any, Any], int] = {}   # (x value, colour value) → runs
    for r in scored:
        key = (r.get(x_axis) if x_axis else None, r.get(c_axis) if c_axis else None)
        sizes[key] = sizes.get(key, 0) + 1
    uneven = len(set(sizes.values())) > 1   # then each label says its n
    handles: dict[str, Any] = {}   # condition label → its errorbar container
    for i, xv in enumerate(xs):
        at_x = [r for r in scored if x_axis is None or r.get(x_axis) == xv]
        tick_labels.append(f"{wrap(short(xv, 40), 1.3, 10) if x_axis else 'all runs'}"
                           f"\n(n={len(at_x)})")
        for j, cv in enumerate(cs):
            rows = [r for r in at_x if c_axis is None or r.get(c_axis) == cv]
            if not rows:
                continue
            colour, _, dot = styles[str(cv if c_axis else xv)]
            centre = i + (j - (n_c - 1) / 2) * slot
            vals = np.array([float(r["scores"][primary]) for r in rows])
            # dots on the left of the slot, the mean and its CI on the right: neither hides
            # the other, and the label beside the mean stays clear of the dots
            jitter = rng.uniform(-0.13, 0.13, len(vals)) * slot - 0.14 * slot
            ax.scatter(centre + jitter, vals, s=24, color=colour, alpha=0.55, linewidths=0,
                       zorder=2, marker=dot)
            d = describe(vals.tolist())
            lo = d["mean"] - d["ci_low"] if d["ci_low"] is not None else 0.0
            hi = d["ci_high"] - d["mean"] if d["ci_high"] is not None else 0.0
            at = centre + 0.12 * slot
            bar = ax.errorbar([at], [d["mean"]], yerr=[[lo], [hi]], fmt="D", ms=7,
                              color=colour, mec="black", mew=0.8, ecolor="black",
                              elinewidth=1.6, capsize=6, capthick=1.6, zorder=3)
            if c_axis is not None:
                handles.setdefault(short(cv, 40), bar)
            if label_means:
                text = f"{d['mean']:.3g}" + (f" (n={d['n']})" if uneven else "")
                ax.annotate(text, (at, d["mean"]), xytext=(8, 0),
                            textcoords="offset points", va="center", fontsize=8,
                            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                                      alpha=0.8), zorder=4)
    ax.set_xticks(range(len(xs)), tick_labels)
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_xlabel(x_axis or "", fontsize=11)
    ax.set_ylabel(primary, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    from matplotlib.lines import Line2D

    legend = [Line2D([], [], marker="D", color="black", mfc="white", ms=7, lw=1.6,
                     label="mean ± 95% CI"),
              Line2D([], [], marker="o", ls="", color="grey", alpha=0.6, ms=5,
                     label="one run (seed)")]
    labels = [str(h.get_label()) for h in legend]
    if handles:
        legend = list(handles.values()) + legend
        labels = list(handles) + labels
    if handles:  # outside, right: never on top of the data
        ax.legend(legend, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
                  frameon=False, title=c_axis, title_fontsize=9, alignment="left")
    else:
        ax.legend(legend, labels, loc="best", fontsize=9, framealpha=0.9)
    seeds = sorted({r.get("seed") for r in scored if r.get("seed") is not None}, key=str)
    title = f"{name}: {primary} by {x_axis}" if x_axis else f"{name}: {primary}"
    if c_axis:
        title += f" and {c_axis}"
    fig.suptitle(wrap(title, width, 13), fontsize=13, fontweight="bold")
    notes = [f"{len(scored)} scored run(s)"]
    if seeds:
        notes.append(f"{len(seeds)} seed(s)")
    if pooled:
        notes.append("pooled over " + ", ".join(pooled))
    fixed = [f"{a} = {axes[a][0]}" for a in stats["factors"] if len(axes[a]) == 1]
    if fixed:
        notes.append(", ".join(fixed))
    missing = len(results) - len(scored)
    if missing:
        notes.append(f"{missing} failed/unscored run(s) not shown")
    notes.append("95% CI: Student t")
    ax.set_title(wrap(" · ".join(notes), width - 0.5, 9), fontsize=9, color="#444444")
    return fig


def _save(fig, target: Path) -> Path:
    from ..evaluators.plots import figure_title

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Title": figure_title(fig)})
    atomic_write_bytes(target, buf.getvalue())
    return target


def write_workbook(target: Path, study, results: list[dict], stats: dict) -> Path:
    """``runs`` sheet (one row per run) and ``leaderboard`` / ``by <axis>`` sheets."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from .experiment_summary import cell_label

    axes = list(stats["axes"])
    scores = stats["scores"]
    wb = Workbook()
    ws = wb.active
    ws.title = "runs"
    head = ["run_id", *axes, "status", "success", *scores, "error", "run_dir"]
    ws.append(head)
    for r in results:
        ws.append([r.get("run_id"), *[_cell(r.get(a)) for a in axes], r.get("status"),
                   bool(r.get("success")), *[_cell((r.get("scores") or {}).get(s))
                                              for s in scores],
                   r.get("error"), r.get("run_dir")])
    _style(ws, head, Font, get_column_letter)

    primary = stats["primary"]
    if primary:
        ws = wb.create_sheet("leaderboard")
        head = ["rank", *(stats["factors"] or ["group"]), "n", f"mean {primary}",
                "ci_low", "ci_high", "success_rate", "ci_overlaps_ranks"]
        ws.append(head)
        for c in stats["leaderboard"]:
            d = c["scores"][primary]
            vals = [_cell(c["values"].get(a)) for a in stats["factors"]] or \
                [cell_label(c["values"], [])]
            ws.append([c["rank"], *vals, d["n"], d["mean"], d["ci_low"], d["ci_high"],
                       c["success_rate"], ", ".join(str(k) for k in c["overlaps"])])
        _style(ws, head, Font, get_column_letter)
    for a in stats["factors"]:
        ws = wb.create_sheet(f"by {a}"[:31])
        head = [a, "runs", "success_rate"] + [f"{s} {k}" for s in scores
                                              for k in ("mean", "ci_low", "ci_high", "n")]
        ws.append(head)
        for c in stats["by_axis"][a]:
            ws.append([_cell(c["values"][a]), c["runs"], c["success_rate"],
                       *[c["scores"][s][k] for s in scores
                         for k in ("mean", "ci_low", "ci_high", "n")]])
        _style(ws, head, Font, get_column_letter)
    buf = io.BytesIO()
    wb.save(buf)
    atomic_write_bytes(target, buf.getvalue())
    return target


def _cell(v):
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _style(ws, head, Font, get_column_letter) -> None:
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    if ws.max_row > 1:
        ws.auto_filter.ref = ws.dimensions
    for i, name in enumerate(head, 1):
        longest = max([len(str(name))] + [len(str(c.value)) for c in ws[get_column_letter(i)]
                                          [1:200] if c.value is not None])
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, longest + 2))
