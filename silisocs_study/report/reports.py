"""``report``: summary.md, comparison.png and study.xlsx under ``generated/reports/``.

All three are computed from every record of the study by the same :func:`analyze` as
``organized/summary.json``, so the numbers always agree.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import StudyError, did_you_mean
from .contrasts import analyze
from .organize import current_records
from .tree import counts as count_records


def _replace_into(target: Path, write) -> Path:
    """Write via ``write(tmp)`` to a temp file beside ``target``, then os.replace."""
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def write_reports(study, *, metric: str | None = None, records=None) -> dict[str, Path]:
    """Write the three reports; returns {"summary": …, "plot": …, "workbook": …}."""
    from ..ledger.records import utc_now
    from .excel import write_workbook
    from .plots import choose_metrics, plot_comparison
    from .summary_md import render

    records = current_records(study, records)
    if not records:
        raise StudyError(f"no run records yet in {study.generated / 'records'}: run the study "
                         f"first (silisocs-study --study {study.display_file} run)")
    analysis = analyze(study, records)
    if metric is not None and metric not in analysis["metrics"]:
        known = analysis["metrics"]
        raise StudyError(f"--metric '{metric}' is not a metric of this study"
                         f"{did_you_mean(metric, known)}; metrics are <eval_id>.<metric>, e.g. "
                         f"{', '.join(known[:4]) or '(none yet)'}")
    folder = Path(study.generated) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    now = utc_now()
    counts = count_records(records)
    metrics = choose_metrics(analysis, metric)
    plot = _replace_into(folder / "comparison.png", lambda tmp: plot_comparison(
        analysis, records, tmp, metrics, title=f"{study.name}: "
        f"{study.meta.get('question') or 'condition comparison'}"))
    xlsx = _replace_into(folder / "study.xlsx", lambda tmp: write_workbook(
        study, analysis, records, tmp, counts, now))
    summary = folder / "summary.md"
    atomic_write_text(summary, render(study, analysis, counts, now, plot.name, metrics))
    return {"summary": summary, "plot": plot, "workbook": xlsx}
