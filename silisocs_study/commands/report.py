"""``organize``, ``report``, ``summary-append``: views and reports from every record."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import StudyError
from ..ledger.records import Ledger
from ..plan import Plan, build_plan


def adopt(plan: Plan, *, dry_run: bool = False) -> list[str]:
    """Runs the silisocs runner recorded become records here (study.yaml only)."""
    if plan.study.kind != "study":
        return []
    from ..ledger.adopt import adopt_external

    adopted = adopt_external(plan, dry_run=dry_run)
    if adopted:
        print(f"{'Would adopt' if dry_run else 'Adopted'} {len(adopted)} run(s) recorded by the "
              f"silisocs runner (records in {plan.study.generated / 'records'})")
    return adopted


def organize(plan: Plan, *, dry_run: bool = False) -> int:
    from ..views import refresh

    study = plan.study
    adopt(plan, dry_run=dry_run)
    if dry_run:
        records = list(Ledger(study.generated).all().values())
        hyps = sorted({str(r.get("hypothesis")) for r in records if r.get("hypothesis")})
        print(f"Would organize {len(records)} record(s) of {study.study_id} "
              f"({', '.join(hyps) or 'no hypotheses yet'}) into "
              f"{study.generated / 'organized'}")
        return 0
    views = refresh(build_plan(study) if plan.filters else plan, force=True)
    if views.organize_error:
        print(f"error: organized view failed: {views.organize_error}", file=sys.stderr)
        return 1
    print(f"Views rebuilt from {len(views.records)} record(s): "
          f"{study.generated / 'repro_lock.json'}, {study.generated / 'study_index.json'}, "
          f"{study.generated / 'study_enriched.yaml'}")
    if study.kind == "experiment":
        print(f"Results: {Path(study.workspace) / 'results.yaml'}")
    else:
        print(f"Organized: {study.generated / 'organized'} "
              f"(summary: {study.generated / 'organized' / 'summary.json'})")
    return 0


def report(plan: Plan, *, metric: str | None = None, show: bool = False) -> int:
    study = plan.study
    adopt(plan)
    if study.kind == "experiment":
        from ..report.experiment import write_experiment_reports

        records = list(Ledger(study.generated).all().values())
        if not records:
            raise StudyError(f"no run records yet in {study.generated / 'records'}: run the "
                             f"experiment first")
        if metric:
            raise StudyError("--metric applies to study.yaml reports; experiment reports "
                             "plot their primary score")
        paths = write_experiment_reports(study, records)
    else:
        from ..report.reports import write_reports

        written = write_reports(study, metric=metric)
        paths = [written["summary"], written["html"], written["plot"], written["workbook"]]
    if show:
        from ..report.experiment import show_reports

        show_reports(paths)
        return 0
    for p in paths:
        print(p)
    return 0


def summary_append(plan: Plan, *, author: str, note: str, hypothesis: str | None,
                   condition: str | None, evidence: list[str]) -> int:
    from ..report.summary_log import append_summary, paths

    adopt(plan)
    study = plan.study
    append_summary(study, author=author, note=note, hypothesis=hypothesis,
                   condition=condition, evidence=evidence)
    md, log = paths(study)
    print(f"Appended to {md} and {log}")
    return 0
