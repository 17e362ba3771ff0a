"""``generated/reports/report.html``: the whole study on one self-contained, offline page.

Verdict cards, forest plots, per-condition strip plots, a seed-coverage grid, a sortable and
filterable run table with per-run details, and the failures. One file with no network
request of any kind (a strict CSP says so to the browser): figures are inline SVG drawn by
:mod:`.svg`, run data an inline JSON block, styles and script inline. It opens from file://
and still does after the study folder is moved (paths are shown as text, never loaded).
:func:`render_html` is pure: the caller writes the text.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from ..status import DISPLAY_ORDER
from .colors import condition_styles, study_conditions
from .html_cards import card, contrast_rows, drive, listed
from .html_runs import coverage, run_page
from .metrics import flat_metrics, metric_words
from .numbers import fmt, fmt_p, fmt_signed
from .svg import ForestRow, StripRow, forest, strip

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:")
MAX_METRICS_PER_HYPOTHESIS = 4
MAX_TABLE_METRICS = 6
MAX_TITLED_DOTS = 10_000      # more dots: tooltips written on hover by the script (size)
HOW_TO_READ = ("How to read this: each card gives a hypothesis' verdict under the study's "
               "decision rule; forest plots show each condition's difference from the "
               "reference with its interval (the shaded band is ±δ, differences too small to "
               "matter); in the distributions every dot is one run (one seed) and the diamond "
               "the mean with its 95% CI; click a run in the table for its details.")


def render_html(study: Any, analysis: dict, records: list[dict], counts: dict, now: str,
                planned: list | None = None) -> str:
    """The page's text. ``planned``: the plan's runs (objects with hypothesis, condition,
    scenario, seed) for the coverage grid; None plans the study here (a study that no longer
    plans gives a grid of what was recorded)."""
    return _template().render(**page_context(study, analysis, records, counts, now, planned))


def page_context(study: Any, analysis: dict, records: list[dict], counts: dict, now: str,
                 planned: list | None = None) -> dict[str, Any]:
    """Everything the template shows, computed once."""
    records = [r for r in records if isinstance(r, dict)]
    hyps: dict[str, dict] = analysis.get("hypotheses") or {}
    decisions = analysis.get("decisions") if isinstance(analysis.get("decisions"), dict) else None
    found = (decisions or {}).get("hypotheses")
    dec_hyps: dict[str, dict] = found if isinstance(found, dict) else {}
    styles = condition_styles(study_conditions(analysis, records))
    colors = {c: style[0] for c, style in styles.items()}
    primary = _primary(hyps, dec_hyps)
    flat = {str(r.get("run_id")): flat_metrics(r) for r in records}
    table_metrics = list(dict.fromkeys(m for ms in primary.values() for m in ms))
    root = Path(getattr(study, "workspace", "") or ".")
    runs = run_page(records, table_metrics[:MAX_TABLE_METRICS], flat, root)
    plan = _planned(study, planned)
    stopped = {(h, str(a.get("condition")), str(a.get("scenario")))
               for h, d in dec_hyps.items() if isinstance(d, dict)
               for a in ((d.get("adaptive") or {}).get("arms") or [])
               if isinstance(a, dict) and a.get("state") != "running"}
    return {
        "csp": Markup(CSP),
        "name": getattr(study, "name", "study"),
        "question": (getattr(study, "meta", None) or {}).get("question"),
        "kind": getattr(study, "kind", "study"),
        "now": now,
        "how_to_read": HOW_TO_READ,
        "counts": _count_chips(counts, records, plan, stopped),
        "decisions": decisions,
        "cards": [card(h, d, colors, hyps.get(h)) for h, d in dec_hyps.items()
                  if isinstance(d, dict)],
        "forests": _forests(hyps, dec_hyps, primary, colors),
        "strips": _strips(hyps, primary, styles, records, flat,
                          table_metrics[:MAX_TABLE_METRICS]),
        "metrics_note": analysis.get("metrics_note"),
        "coverage": [g for g in coverage(records, plan, list(hyps), stopped) if g["rows"]],
        "adaptive": bool(stopped) or any(isinstance(d, dict) and d.get("adaptive")
                                         for d in dec_hyps.values()),
        "runs_json": _json_for_script({**runs.data, "colors": colors}),
        "failures": runs.failures,
        "n_failures": runs.n_failures,
        "n_records": len(records),
        "runs_metrics": table_metrics[:MAX_TABLE_METRICS],
        "colors": colors,
        "css": Markup(_asset("report.css")),
        "js": Markup(_asset("report.js")),
    }


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["words"] = metric_words
    env.filters["breakable"] = breakable
    return env.get_template("report.html.j2")


@lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return (HERE / "templates" / name).read_text(encoding="utf-8")


def breakable(text: Any) -> Markup:
    """Escaped text that may wrap after ``_ . / -`` (long metric names on a phone)."""
    out = str(escape(str(text)))
    for ch in "_./":
        out = out.replace(ch, ch + "<wbr>")
    return Markup(out)


def _json_for_script(obj: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _planned(study: Any, planned: list | None) -> list[tuple[str, str, str, Any]]:
    if planned is None:
        try:
            from ..plan import build_plan

            planned = list(build_plan(study).runs)
        except Exception:  # noqa: BLE001 - a plan that no longer builds: show the records
            planned = []
    out = []
    for run in planned:
        try:
            out.append((str(run.hypothesis), str(run.condition), str(run.scenario), run.seed))
        except AttributeError:
            continue
    return out


def _count_chips(counts: dict, records: list[dict], plan: list,
                 stopped: set | frozenset = frozenset()) -> list[tuple[str, int]]:
    """(status, n) in the status command's order; pending = planned without a record (saved:
    of an adaptive arm that has stopped)."""
    by = dict((counts or {}).get("by_status") or {})
    seen = {(str(r.get("hypothesis")), str(r.get("condition")), str(r.get("scenario")),
             r.get("seed")) for r in records}
    left = [key for key in plan if key not in seen]
    saved = sum(1 for key in left if key[:3] in stopped)
    if len(left) - saved:
        by["pending"] = by.get("pending", 0) + len(left) - saved
    if saved:
        by["saved"] = by.get("saved", 0) + saved
    order = [s.value for s in DISPLAY_ORDER]
    chips = [(s, by.pop(s)) for s in order if by.get(s)]
    return chips + sorted(by.items())


def _primary(hyps: dict[str, dict], dec_hyps: dict[str, dict]) -> dict[str, list[str]]:
    """Metrics shown per hypothesis: the decision's primary metrics, else the key metric."""
    out = {}
    for h in list(hyps) + [h for h in dec_hyps if h not in hyps]:
        dec = dec_hyps.get(h) if isinstance(dec_hyps.get(h), dict) else None
        metrics = listed(dec or {})
        if not metrics and (hyps.get(h) or {}).get("key_metric"):
            metrics = [hyps[h]["key_metric"]]
        out[h] = metrics[:MAX_METRICS_PER_HYPOTHESIS]
    return out


def _forests(hyps: dict[str, dict], dec_hyps: dict[str, dict], primary: dict[str, list[str]],
             colors: dict[str, str]) -> list[dict]:
    """One forest per hypothesis × shown metric: the decision's rows (per scenario, then
    pooled) or, without decisions, the per-scenario contrasts of the statistics."""
    out = []
    for h, metrics in primary.items():
        dec = dec_hyps.get(h) if isinstance(dec_hyps.get(h), dict) else None
        block = hyps.get(h) or {}
        for m in metrics:
            rows: list[ForestRow] = []
            if dec is not None:
                src = [r for r in contrast_rows(dec) if r.get("metric") == m]
                src.sort(key=lambda r: bool(r.get("pooled")))
                interval = str(dec.get("interval") or "t")
                ref = dec.get("reference")
                delta = dec.get("delta")
            else:
                src = [dict(r, estimate=r.get("difference")) for r in block.get("contrasts") or []
                       if r.get("metric") == m]
                interval, ref, delta = "t", block.get("reference"), None
            several = len({r.get("condition") for r in src}) > 1
            for r in src:
                rows.append(_forest_row(r, interval, several, colors))
            if not rows:
                continue
            ref = ref or (src[0].get("reference") if src else None)
            out.append({"hypothesis": h, "metric": m, "reference": ref,
                        "decided": dec is not None,
                        "svg": Markup(forest(rows, delta=delta if isinstance(
                            delta, (int, float)) else None,
                            axis_label=f"difference: condition − {ref}"))})
    return out


def _forest_row(r: dict, interval: str, several: bool, colors: dict[str, str]) -> ForestRow:
    cond = str(r.get("condition"))
    pooled = bool(r.get("pooled"))
    scen = "pooled (all scenarios)" if pooled else str(r.get("scenario"))
    lo, hi, how = drive(r, interval)
    tip = [f"{cond} − {r.get('reference')}, {scen}: {fmt_signed(r.get('estimate'))}"]
    if lo is not None and hi is not None:
        tip.append(f"{how} interval [{fmt(lo)}, {fmt(hi)}]")
    for key, label in (("n", "n"), ("p", "p"), ("p_holm", "Holm p"), ("verdict", "verdict"),
                       ("note", "note")):
        if r.get(key) is not None:
            val = r[key]
            tip.append(f"{label} {fmt_p(val) if key.startswith('p') else val}")
    return ForestRow(label=cond if several else scen, sub=scen if several else "",
                     estimate=r.get("estimate"), low=lo, high=hi,
                     color=colors.get(cond, "#777777"), pooled=pooled, title="; ".join(tip),
                     note=r.get("note"))


def _strips(hyps: dict[str, dict], primary: dict[str, list[str]],
            styles: dict[str, tuple[str, str, str]], records: list[dict], flat: dict[str, dict[str, float]], in_table: list[str]
            ) -> list[dict]:
    """One strip plot per hypothesis × shown metric × scenario; with more than
    MAX_TITLED_DOTS dots, those of metrics in the run table get their tooltips lazily."""
    seed_of = {str(r.get("run_id")): r.get("seed") for r in records}
    index_of = {str(r.get("run_id")): i for i, r in enumerate(records)}
    plans = []
    dots = 0
    for h, metrics in primary.items():
        block = hyps.get(h)
        if not block:
            continue
        for m in metrics:
            for scen in block.get("scenarios") or []:
                rows = []
                for c in block.get("conditions") or []:
                    cell = (block.get("statistics") or {}).get(c, {}).get(scen)
                    if cell is None:
                        continue
                    pts = [(flat[rid][m], f"{rid} · seed {seed_of.get(rid)} · {flat[rid][m]:.6g}",
                            index_of.get(rid, -1))
                           for rid in cell.get("run_ids") or [] if m in flat.get(rid, {})]
                    d = (cell.get("metrics") or {}).get(m) or {}
                    ref = " · reference" if c == block.get("reference") else ""
                    color, _, shape = styles.get(str(c), ("#777777", "", "o"))
                    rows.append(StripRow(label=str(c), color=color,
                                         points=pts, mean=d.get("mean"), low=d.get("ci_low"),
                                         high=d.get("ci_high"), shape=shape,
                                         sub=f"n = {len(pts)}{ref}"))
                    dots += len(pts)
                if any(r.points for r in rows):
                    plans.append((h, m, scen, rows))
    many = dots > MAX_TITLED_DOTS
    return [{"hypothesis": h, "metric": m, "scenario": s,
             "svg": Markup(strip(rows, axis_label=metric_words(m), lazy=many and m in in_table))}
            for h, m, s, rows in plans]
