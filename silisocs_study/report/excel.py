"""``generated/reports/study.xlsx``: the study as spreadsheets (XlsxWriter, constant memory:
about twice openpyxl's speed on a 10,000-run study).

* ``about``: the question, counts, method, and each hypothesis with its reference condition.
* ``verdicts`` / ``decision contrasts``: each hypothesis' verdict and its primary contrasts
  (pooled and per scenario), when the study has hypotheses to decide.
* ``runs``: one row per record — identity, status, fingerprint and every
  ``<eval_id>.<metric>`` column.
* one sheet per hypothesis: one row per metric × scenario × condition with the statistics over
  seeds and, for non-reference conditions, the contrast against the reference.

Header rows are bold, frozen and filterable; column widths follow the content.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .decisions import CONTRAST_COLUMNS, VERDICT_COLUMNS, contrast_rows, verdict_rows
from .metrics import flat_metrics, metric_order, split_metric, usable

RUN_COLUMNS = ("run_id", "hypothesis", "condition", "scenario", "seed", "status", "stale",
               "usable", "fingerprint", "finished_at", "run_dir")
HYP_COLUMNS = ("metric", "evaluator", "scenario", "condition", "role", "n", "mean", "sd", "se",
               "ci_low", "ci_high", "seeds", "difference", "diff_ci_low", "diff_ci_high",
               "ratio", "design", "test", "n_used", "effect_size", "effect_size_kind", "t",
               "df", "p", "p_holm", "significant", "note")
_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(name: str, taken: set[str]) -> str:
    base = _BAD.sub("_", name).strip("'") or "hypothesis"
    if base.lower() in ("runs", "about", "verdicts", "decision contrasts"):
        base = f"hyp {base}"
    base = base[:31]
    out, i = base, 2
    while out.lower() in taken:
        suffix = f" ({i})"
        out = base[:31 - len(suffix)] + suffix
        i += 1
    taken.add(out.lower())
    return out


def _width(values: list[Any], header: str) -> float:
    longest = len(header)
    for v in values[:2000]:
        if v is None:
            continue
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        longest = max(longest, len(text))
    return float(min(60, max(8, longest + 2)))


# strings stay strings: an id like "=x" is not a formula, a run folder is not a hyperlink
WORKBOOK_OPTIONS = {"constant_memory": True, "strings_to_formulas": False,
                    "strings_to_urls": False, "strings_to_numbers": False,
                    "nan_inf_to_errors": True}
MAX_TEXT = 32_767   # Excel's limit for one cell


def _write_table(wb, title: str, header: list[str], rows: list[list[Any]],
                 freeze: str = "A2") -> None:
    """One sheet: a bold, frozen, filterable header row, then ``rows`` (row by row, as
    constant-memory mode needs)."""
    ws = wb.book.add_worksheet(title)
    ws.freeze_panes(freeze)
    for i, name in enumerate(header):
        ws.set_column(i, i, _width([r[i] for r in rows], name))
    if header:
        ws.autofilter(0, 0, max(1, len(rows)), len(header) - 1)
        ws.write_row(0, 0, header, wb.header)
    for n, row in enumerate(rows, start=1):
        ws.write_row(n, 0, [_cell(v) for v in row])


@dataclass
class _Book:
    book: Any     # xlsxwriter.Workbook
    header: Any   # its header-row format

    def close(self) -> None:
        self.book.close()


def _new_workbook(target: Path) -> _Book:
    import xlsxwriter

    target.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(target), WORKBOOK_OPTIONS)
    return _Book(wb, wb.add_format({"bold": True, "bg_color": "#DDE6F0", "valign": "vcenter"}))


def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        v = ", ".join(str(x) for x in v)
    elif isinstance(v, dict):
        v = str(v)
    if isinstance(v, str) and len(v) > MAX_TEXT:
        return v[:MAX_TEXT - 1] + "…"
    return v


def write_workbook(study, analysis: dict, records: list[dict], target: Path,
                   counts: dict, generated_at: str) -> Path:
    wb = _new_workbook(target)
    about = [["study", study.name], ["study_id", study.study_id],
             ["question", study.meta.get("question")], ["generated_at", generated_at],
             ["records", counts.get("records")], ["usable runs", counts.get("usable")]]
    about += [[f"status: {k}", v] for k, v in counts.get("by_status", {}).items()]
    about += [["method", "statistics per condition × scenario over seeds (mean, sd, 95% "
                         "Student-t CI); contrasts vs the reference condition: paired t over "
                         "shared seeds (d_z) else Welch (Cohen's d); Holm within hypothesis"]]
    if analysis.get("metrics_note"):
        about.append(["no numeric metrics", analysis["metrics_note"]])
    for w in analysis.get("warnings") or []:
        about.append([f"warning: {w['run_id']}", "; ".join(w["warnings"])])
    for hyp, block in analysis["hypotheses"].items():
        about.append([f"{hyp}: statement", block.get("statement")])
        about.append([f"{hyp}: prediction", block.get("prediction")])
        about.append([f"{hyp}: reference", f"{block['reference']} ({block['reference_source']})"])
        about.append([f"{hyp}: key metric", block.get("key_metric")])
    _write_table(wb, "about", ["field", "value"], about)
    decisions = analysis.get("decisions")
    if verdict_rows(decisions):
        _write_table(wb, "verdicts", list(VERDICT_COLUMNS),
                     [list(r.values()) for r in verdict_rows(decisions)])
        _write_table(wb, "decision contrasts", list(CONTRAST_COLUMNS),
                     [list(r.values()) for r in contrast_rows(decisions)], freeze="B2")
    from .adaptive_state import ARM_COLUMNS, adaptive_blocks, arm_rows

    arms = arm_rows(adaptive_blocks(study, [], analysis=analysis))
    if arms:   # one row per adaptive arm: where its seeds stopped and why
        _write_table(wb, "adaptive arms", list(ARM_COLUMNS),
                     [[", ".join(v) if isinstance(v, list) else v for v in r.values()]
                      for r in arms], freeze="B2")

    metrics = metric_order(records)
    rows = []
    for rec in records:
        values = flat_metrics(rec)
        rows.append([rec.get("run_id"), rec.get("hypothesis"), rec.get("condition"),
                     rec.get("scenario"), rec.get("seed"), rec.get("status"),
                     bool(rec.get("stale")), usable(rec), rec.get("fingerprint"),
                     rec.get("finished_at"), rec.get("run_dir")]
                    + [values.get(m) for m in metrics])
    _write_table(wb, "runs", list(RUN_COLUMNS) + metrics, rows, freeze="B2")

    taken = {"runs", "about", "verdicts", "decision contrasts", "adaptive arms"}
    for hyp, block in analysis["hypotheses"].items():
        _write_table(wb, _sheet_name(hyp, taken), list(HYP_COLUMNS),
                     _hyp_rows(block, analysis["evaluators"]))
    wb.close()
    return target


def _hyp_rows(block: dict, evaluators: list[str]) -> list[list[Any]]:
    by_key = {(r["condition"], r["scenario"], r["metric"]): r for r in block["contrasts"]}
    metrics: list[str] = []
    for sc in block["statistics"].values():
        for cell in sc.values():
            metrics += [m for m in cell["metrics"] if m not in metrics]
    rows = []
    for m in metrics:
        for s in block["scenarios"]:
            ref = block["reference"]
            for c in ([ref] if ref else []) + [c for c in block["conditions"] if c != ref]:
                cell = block["statistics"].get(c, {}).get(s)
                if cell is None:
                    continue
                d = cell["metrics"].get(m) or {}
                r = by_key.get((c, s, m)) or {}
                ev = split_metric(m, evaluators)[0]
                role = "reference" if c == block["reference"] else "condition"
                rows.append([m, ev, s, c, role, d.get("n", 0), d.get("mean"), d.get("sd"),
                             d.get("se"), d.get("ci_low"), d.get("ci_high"), cell["seeds"],
                             r.get("difference"), r.get("ci_low"), r.get("ci_high"),
                             r.get("ratio"), r.get("design"), r.get("test"), r.get("n"),
                             r.get("effect_size"), r.get("effect_size_kind"), r.get("t"),
                             r.get("df"), r.get("p"), r.get("p_holm"),
                             r.get("significant") if r else None,
                             "; ".join(x for x in (d.get("note"), r.get("note"),
                                                   _effect_note(r)) if x) or None])
    return rows


def _effect_note(row: dict) -> str | None:
    """Why the effect_size cell is empty ("effect size undefined (zero variance)")."""
    if row.get("effect_size") is None and row.get("effect_size_note"):
        return f"effect size {row['effect_size_note']}"
    return None
