"""Experiment statistics and ``reports/summary.md``: pure functions of the results list.

Per non-seed axis value and per combination of the non-seed axes: runs, success rate and
every score's mean with a Student-t 95% CI (:func:`silisocs_study.report.stats.describe`);
the leaderboard ranks the finest cells by the primary score and marks overlapping CIs as ties.
"""
from __future__ import annotations

from ..status import COMPLETE_VALUES
from .numbers import finite_number, fmt_fixed
from .verdicts_md import verdict_lines

MAX_BOARD = 40  # leaderboard rows shown in summary.md (all of them go to the workbook)


# -- statistics ---------------------------------------------------------------------------------

def primary_score(results: list[dict]) -> str | None:
    """``score`` if any run reports it, else the first score key of the first scored run."""
    names = score_names(results)
    if "score" in names:
        return "score"
    return names[0] if names else None


def score_names(results: list[dict]) -> list[str]:
    names: dict[str, None] = {}
    for r in results:
        for k, v in (r.get("scores") or {}).items():
            if finite_number(v) is not None:
                names.setdefault(k, None)
    return list(names)


def experiment_axes(study, results: list[dict]) -> dict[str, list]:
    """Axis name → values in authored order (values only seen in results appended)."""
    axes = {k: list(v) for k, v in ((study.meta.get("axes") if study else None) or {}).items()}
    if not axes:
        for r in results:
            for k in r:
                if k in ("run_id", "status", "scores", "success", "error", "stale", "in_plan",
                         "run_dir", "final_state", "timeline"):
                    break
                axes.setdefault(k, [])
    for r in results:
        for k, vals in axes.items():
            if k in r and r[k] not in vals:
                vals.append(r[k])
    return axes


def cell_stats(rows: list[dict], scores: list[str]) -> dict:
    from .stats import describe

    n_success = sum(1 for r in rows if r.get("success"))
    return {
        "runs": len(rows),
        "completed": sum(1 for r in rows if r.get("status") in COMPLETE_VALUES),
        "successes": n_success,
        "success_rate": n_success / len(rows) if rows else None,
        "scores": {s: describe(finite_number((r.get("scores") or {}).get(s)) for r in rows
                               if r.get("status") in COMPLETE_VALUES) for s in scores},
    }


def experiment_stats(study, results: list[dict]) -> dict:
    """Per-axis and per-combination statistics and the leaderboard (pure; no files).

    ``by_axis[axis]`` and ``combinations`` are lists of ``{"values": {...}, **cell_stats}``
    in authored order; ``leaderboard`` ranks the finest cells (each combination of the
    non-seed axes) by the primary score's mean, with ``overlaps`` = ranks whose 95% CIs
    overlap this one's (ties).
    """
    axes = experiment_axes(study, results)
    factors = [a for a in axes if a != "seed"]
    scores = score_names(results)
    primary = primary_score(results)
    by_axis = {a: [dict(values={a: v}, **cell_stats([r for r in results if r.get(a) == v],
                                                    scores))
                   for v in axes[a] if any(r.get(a) == v for r in results)]
               for a in factors}
    combos = _combinations(results, factors, axes)
    cells = [dict(values=vals, **cell_stats(rows, scores)) for vals, rows in combos]
    board = [c for c in cells if primary and c["scores"][primary]["mean"] is not None]
    board.sort(key=lambda c: -c["scores"][primary]["mean"])
    for i, c in enumerate(board, 1):
        c["rank"] = i
    for c in board:
        c["overlaps"] = [o["rank"] for o in board if o is not c and
                         _overlap(c["scores"][primary], o["scores"][primary])]
    return {"axes": axes, "factors": factors, "scores": scores, "primary": primary,
            "by_axis": by_axis, "combinations": cells if len(factors) > 1 else [],
            "leaderboard": board, "overall": cell_stats(results, scores)}


def _combinations(results, factors, axes) -> list[tuple[dict, list[dict]]]:
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault(tuple(_hashable(r.get(a)) for a in factors), []).append(r)
    order = {a: {_hashable(v): i for i, v in enumerate(axes[a])} for a in factors}
    keys = sorted(groups, key=lambda k: tuple(order[a].get(v, 1 << 30)
                                              for a, v in zip(factors, k)))
    return [(dict(zip(factors, (groups[k][0].get(a) for a in factors))), groups[k])
            for k in keys]


def _overlap(a: dict, b: dict) -> bool:
    """Two 95% CIs overlap (a missing CI — n < 2 — counts as overlapping everything)."""
    if a["ci_low"] is None or b["ci_low"] is None:
        return True
    return a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]


def _hashable(v):
    return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)


def no_scores_reason(results: list[dict], primary: str | None = None) -> str:
    """Why nothing can be ranked or plotted, and what to do (never an unexplained blank)."""
    if not results:
        return "No runs recorded yet: run the experiment first."
    done = [r for r in results if r.get("status") in COMPLETE_VALUES]
    head = "No run has reported scores yet"
    if not done:
        return (f"{head}. None of the {len(results)} run(s) has finished successfully (see "
                f"the failed or incomplete runs).")
    if primary:
        return (f"{head}. None of the {len(done)} finished run(s) has a numeric `{primary}` "
                f"in its result.json.")
    return (f"{head}. None of the {len(done)} finished run(s) wrote numeric `scores` in its "
            f"result.json. Have the app write result.json into its run folder with a "
            f'`scores` object of numbers, e.g. {{"scores": {{"score": 0.7}}, "success": true}}.')


# -- summary.md ---------------------------------------------------------------------------------

def cell_label(values: dict, factors: list[str]) -> str:
    if not factors:
        return "all runs"
    if len(factors) == 1:
        return str(values.get(factors[0]))
    return ", ".join(f"{a}={values.get(a)}" for a in factors)


def _ci(d: dict) -> str:
    if d["ci_low"] is None:
        return "— (n<2)" if d["n"] == 1 else "—"
    return f"[{fmt_fixed(d['ci_low'])}, {fmt_fixed(d['ci_high'])}]"


def _mean_ci(d: dict) -> str:
    if d["mean"] is None:
        return "—"
    return f"{fmt_fixed(d['mean'])} {_ci(d)}"


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _values_text(values: list) -> str:
    if len(values) > 6 and all(isinstance(v, int) and not isinstance(v, bool) for v in values) \
            and values == list(range(values[0], values[0] + len(values))):
        return f"{values[0]}–{values[-1]}"
    text = ", ".join(str(v) for v in values[:12])
    return text + (", …" if len(values) > 12 else "")


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(study, results: list[dict], stats: dict, *, planned: int | None = None,
                     figure: str | None = "comparison.png",
                     workbook: str | None = "results.xlsx") -> str:
    from ..ledger.records import utc_now

    axes, factors, primary = stats["axes"], stats["factors"], stats["primary"]
    scores = stats["scores"]
    statuses: dict[str | None, int] = {}
    for r in results:
        statuses[r.get("status")] = statuses.get(r.get("status"), 0) + 1
    name = study.name if study else "experiment"
    out = [f"# Experiment `{name}`", ""]
    desc = (study.meta.get("description") or study.meta.get("question")) if study else None
    if desc:
        out += [str(desc).strip(), ""]
    if study:
        mode = study.meta.get("mode") or "iterate"
        spec = study.display_file or str(study.file)
        out.append(f"- Spec: `{spec}` (experiment `{name}`, mode {mode})")
        out.append(f"- Folder: `{study.workspace}`")
    shape = " × ".join(f"{a} ({len(v)}: {_values_text(v)})" for a, v in axes.items())
    out.append(f"- Axes: {shape}" + (f" — {planned} point(s) planned" if planned else ""))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    missing = (planned - sum(1 for r in results if r.get("in_plan", True))) if planned else 0
    out.append(f"- Runs: {len(results)} recorded ({counts or 'none'})"
               + (f"; {missing} planned run(s) not run yet" if missing > 0 else ""))
    overall = stats["overall"]
    out.append(f"- Scenario success (`success` in result.json; failed runs count as "
               f"unsuccessful): {overall['successes']} of {overall['runs']} "
               f"({_pct(overall['success_rate'])})")
    if primary:
        out.append(f"- Primary score: `{primary}` (ranked highest first); means with 95% "
                   f"confidence intervals (Student t over the runs of each row, usually "
                   f"the seeds). Scores: {', '.join(f'`{s}`' for s in scores)}")
    out.append(f"- Written {utc_now()} from all records of the folder")
    if figure or workbook:
        files = [f"[{f}]({f})" for f in (figure, workbook) if f]
        out.append(f"- Figure and workbook: {', '.join(files)}")
    out.append("")
    out += verdict_lines(stats.get("decisions"))

    board = stats["leaderboard"]
    if primary and board:
        head = factors or ["group"]
        out += [f"## Leaderboard (by `{primary}`)", ""]
        out.append("| rank | " + " | ".join(head) + f" | n | mean {primary} | 95% CI | "
                   "success | CI overlaps with |")
        out.append("|" + "---|" * (len(head) + 6))
        for c in board[:MAX_BOARD]:
            d = c["scores"][primary]
            vals = [_md(c["values"].get(a)) for a in factors] or ["all runs"]
            overlaps = _ranks(c["overlaps"], len(board))
            out.append(f"| {c['rank']} | " + " | ".join(vals) + f" | {d['n']} | "
                       f"{fmt_fixed(d['mean'])} | {_ci(d)} | {_pct(c['success_rate'])} | "
                       f"{overlaps} |")
        if len(board) > MAX_BOARD:
            out.append(f"\n{len(board) - MAX_BOARD} more row(s) in the leaderboard sheet "
                       f"of {workbook or 'results.xlsx'}.")
        out.append("")
        out += _tie_notes(board, factors, primary)
        out.append("")
    elif not primary or not board:
        out += ["## No scores", "", no_scores_reason(results, primary), ""]

    for a in factors:
        rows = stats["by_axis"][a]
        if not rows:
            continue
        out += [f"## By {a}", ""]
        out += _table([a], rows, scores)
        out.append("")
    if stats["combinations"]:
        out += [f"## By {' × '.join(factors)}", ""]
        out += _table(factors, stats["combinations"], scores)
        out.append("")

    bad = [r for r in results if r.get("status") not in COMPLETE_VALUES or r.get("error")]
    if bad:
        out += ["## Failed or incomplete runs", ""]
        for r in bad[:50]:
            out.append(f"- `{r.get('run_id')}` [{r.get('status')}]: {_md(r.get('error'))}")
        if len(bad) > 50:
            out.append(f"- … and {len(bad) - 50} more (see results.yaml)")
        out.append("")
    return "\n".join(out)


def _tie_notes(board: list[dict], factors: list[str], primary: str) -> list[str]:
    """Adjacent ranks: runs of overlapping CIs are ties; the other steps are clear gaps."""
    def name(c: dict) -> str:
        return f"#{c['rank']} {cell_label(c['values'], factors)}"

    notes, chain = [], [board[0]] if board else []
    for a, b in zip(board, board[1:]):
        if b["rank"] in a["overlaps"]:
            chain.append(b)
            continue
        if len(chain) > 1:
            notes.append(_chain_note(chain, name))
        diff = a["scores"][primary]["mean"] - b["scores"][primary]["mean"]
        notes.append(f"- {name(a)} > {name(b)}: the 95% CIs do not overlap "
                     f"(difference of means {fmt_fixed(diff)}).")
        chain = [b]
    if len(chain) > 1:
        notes.append(_chain_note(chain, name))
    if any(c["scores"][primary]["ci_low"] is None for c in board):
        notes.append("- Rows with n < 2 have no CI and count as tied with every row.")
    return notes


def _chain_note(chain: list[dict], name) -> str:
    if len(chain) <= 4:
        who = " ≈ ".join(name(c) for c in chain)
    else:
        who = f"#{chain[0]['rank']}–#{chain[-1]['rank']} ({len(chain)} rows)"
    how = "their 95% CIs overlap" if len(chain) == 2 else \
        "each one's 95% CI overlaps the next one's"
    return f"- {who}: tied — {how}, so these seeds do not tell them apart."


def _ranks(ranks: list[int], total: int) -> str:
    """[2, 3, 4, 7] → '#2–#4, #7'; every other row → 'all others'."""
    if not ranks:
        return "none"
    if len(ranks) == total - 1 and total > 3:
        return "all others"
    parts, start, prev = [], ranks[0], ranks[0]
    for r in ranks[1:] + [None]:
        if r is not None and r == prev + 1:
            prev = r
            continue
        parts.append(f"#{start}" if start == prev else
                     f"#{start}, #{prev}" if prev == start + 1 else f"#{start}–#{prev}")
        if r is not None:
            start = prev = r
    return ", ".join(parts)


def _table(cols: list[str], rows: list[dict], scores: list[str]) -> list[str]:
    head = "| " + " | ".join(cols) + " | runs | success | " + \
        " | ".join(f"{s} mean [95% CI]" for s in scores) + " |"
    out = [head, "|" + "---|" * (len(cols) + 2 + len(scores))]
    for c in rows:
        vals = [_md(c["values"].get(a)) for a in cols]
        cells = []
        for s in scores:
            d = c["scores"][s]
            text = _mean_ci(d)
            if d["n"] and d["n"] != c["runs"]:
                text += f" (n={d['n']})"
            cells.append(text)
        out.append("| " + " | ".join(vals) + f" | {c['runs']} | {_pct(c['success_rate'])} | "
                   + " | ".join(cells) + " |")
    return out
