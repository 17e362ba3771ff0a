"""``report``: summary.md, report.html, comparison.png and study.xlsx under
``generated/reports/``.

All four are computed from every record of the study by the same :func:`analyze` as
``organized/summary.json``, so the numbers always agree.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..atomic import (atomic_write_text, make_dirs, note_replaced_link, refuse_links,
                      storage_failure)
from ..errors import StudyError, did_you_mean, note_written
from .contrasts import analyze
from .organize import current_records
from .tree import counts as count_records


def _replace_into(target: Path, write, what: str) -> Path:
    """Write via ``write(tmp)`` to a temp file beside ``target``, then os.replace (a symlink
    at ``target`` is replaced, never written through). Disk full, read-only and the like
    raise StorageError naming ``what``; the temp file never stays behind."""
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        write(tmp)
        note_replaced_link(target, what)
        os.replace(tmp, target)
    except OSError as exc:
        raise storage_failure(exc, target, what, missing=False) from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    note_written()
    return target


def write_reports(study, *, metric: str | None = None, records=None,
                  analysis: dict | None = None) -> dict[str, Path]:
    """Write the four reports; returns {"summary", "html", "plot", "workbook"} → path.

    ``records`` with ``analysis``: every record and the :func:`analyze` of exactly those
    (what ``views.refresh`` just built the organized tree from): used as they are, neither
    read nor computed again. ``records`` alone are checked against the record files
    (``current_records``) and analysed here."""
    from ..ledger.records import utc_now
    from .excel import write_workbook
    from .html import render_html
    from .plots import choose_metrics, plot_comparison
    from .summary_md import render

    if records is not None and analysis is not None:
        records = list(records.values()) if isinstance(records, dict) else list(records)
    else:
        records, analysis = current_records(study, records), None
    if not records:
        raise StudyError(f"no run records yet in {study.generated / 'records'}: run the study "
                         f"first (silisocs-study --study {study.display_file} run)")
    if analysis is None:
        analysis = analyze(study, records)
    if metric is not None and metric not in analysis["metrics"]:
        known = analysis["metrics"]
        raise StudyError(f"--metric '{metric}' is not a metric of this study"
                         f"{did_you_mean(metric, known)}; metrics are <eval_id>.<metric>, e.g. "
                         f"{', '.join(known[:4]) or '(none yet)'}")
    folder = Path(study.generated) / "reports"
    refuse_links(folder / "summary.md", study.generated, "the reports")
    make_dirs(folder, "the reports")
    now = utc_now()
    counts = count_records(records)
    metrics = choose_metrics(analysis, metric)
    plot = _replace_into(folder / "comparison.png", lambda tmp: plot_comparison(
        analysis, records, tmp, metrics, title=f"{study.name}: "
        f"{study.meta.get('question') or 'condition comparison'}"),
        "the report comparison.png")
    xlsx = _replace_into(folder / "study.xlsx", lambda tmp: write_workbook(
        study, analysis, records, tmp, counts, now), "the workbook study.xlsx")
    summary = folder / "summary.md"
    atomic_write_text(summary, render(study, analysis, counts, now, plot.name, metrics),
                      what="the report summary.md")
    html = folder / "report.html"
    atomic_write_text(html, render_html(study, analysis, records, counts, now),
                      what="the report report.html")
    if analysis.get("metrics_note"):   # said where the user looks, not only inside the files
        print(f"note: {analysis['metrics_note']} (comparison.png states this instead of a "
              f"plot)", file=sys.stderr)
    return {"summary": summary, "html": html, "plot": plot, "workbook": xlsx}
