"""Verbs: ``organize``, ``report`` and ``summary-append`` (registered by cli_run)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_report_verbs(sub, add_common, add_filters, verb) -> None:
    p = sub.add_parser("organize", help="rebuild every view from the records: lock/index "
                                        "files and generated/organized/ (with statistics)")
    add_common(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be organized, write nothing")
    p.add_argument("--workspace", default=None, metavar="DIR",
                   help="experiment specs: the folder to organize (default: the latest)")

    p = sub.add_parser("report", help="write generated/reports/summary.md, comparison.png "
                                      "and study.xlsx from all records")
    add_common(p)
    p.add_argument("--metric", default=None, metavar="EVAL.METRIC",
                   help="metric to plot in every panel, e.g. "
                        "action_metrics.interactive_actions_per_agent (default: each "
                        "hypothesis' key metric)")
    p.add_argument("--show", action="store_true",
                   help="open the reports when a display is available (else list them)")
    p.add_argument("--workspace", default=None, metavar="DIR",
                   help="experiment specs: the folder to report on (default: the latest)")

    p = sub.add_parser("summary-append", help="append a note to the study's SUMMARY.md and "
                                              "summary_log.jsonl")
    add_common(p)
    p.add_argument("--author", required=True)
    p.add_argument("--note", required=True)
    p.add_argument("--hypothesis", default=None, help="hypothesis id the note is about")
    p.add_argument("--condition", default=None, help="condition id the note is about")
    p.add_argument("--evidence", action="append", default=[], metavar="PATH",
                   help="a file backing the note (repeatable; recorded as given)")

    verb("organize")(cmd_organize)
    verb("report")(cmd_report)
    verb("summary-append")(cmd_summary_append)


def _study(args: argparse.Namespace, *, adopt: bool = True):
    """The study (experiments: pinned to --workspace or their latest folder), after adopting
    the runs the silisocs runner recorded (see ledger.adopt)."""
    from ..cli import load_plan

    plan = load_plan(args, filtered=False)
    study = plan.study
    if adopt and study.kind == "study":
        _adopt(plan)
    if study.kind == "experiment":
        from .experiment import load_experiment

        pinned = getattr(args, "workspace", None) or study.meta.get("pinned_folder")
        study = load_experiment(f"{study.file}#{study.name}", study.repo_root,
                                workspace=pinned)   # a _spec_.yaml given: its own folder
        from ..plan import build_plan

        plan = build_plan(study)
    elif getattr(args, "workspace", None):
        from ..errors import StudyError

        raise StudyError("--workspace names an experiment folder; a study.yaml's workspace "
                         "is its own directory")
    return study, plan


def _adopt(plan, *, dry_run: bool = False) -> list[str]:
    from ..ledger.adopt import adopt_external

    adopted = adopt_external(plan, dry_run=dry_run)
    if adopted:
        print(f"{'Would adopt' if dry_run else 'Adopted'} {len(adopted)} run(s) recorded by the "
              f"silisocs runner (records in {plan.study.generated / 'records'})")
    return adopted


def cmd_organize(args: argparse.Namespace) -> int:
    from ..launch.sweep import rebuild_study_views
    from ..ledger.records import Ledger
    from . import organize

    study, plan = _study(args, adopt=not args.dry_run)
    if args.dry_run:
        if study.kind == "study":
            _adopt(plan, dry_run=True)
        records = list(Ledger(study.generated).all().values())
        hyps = sorted({str(r.get("hypothesis")) for r in records if r.get("hypothesis")})
        print(f"Would organize {len(records)} record(s) of {study.study_id} "
              f"({', '.join(hyps) or 'no hypotheses yet'}) into "
              f"{study.generated / 'organized'}")
        return 0
    organize.FORCE = True
    try:
        records = rebuild_study_views(str(study.file), plan=plan)
    finally:
        organize.FORCE = False
    if organize.LAST_ERROR:
        import sys

        print(f"error: organized view failed: {organize.LAST_ERROR}", file=sys.stderr)
        return 1
    print(f"Views rebuilt from {len(records)} record(s): {study.generated / 'repro_lock.json'}, "
          f"{study.generated / 'study_index.json'}, {study.generated / 'study_enriched.yaml'}")
    if study.kind == "experiment":
        print(f"Results: {Path(study.workspace) / 'results.yaml'}")
    else:
        print(f"Organized: {study.generated / 'organized'} "
              f"(summary: {study.generated / 'organized' / 'summary.json'})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..errors import StudyError
    from ..ledger.records import Ledger

    study, _ = _study(args)
    if study.kind == "experiment":
        from .experiment import show_reports, write_experiment_reports

        records = list(Ledger(study.generated).all().values())
        if not records:
            raise StudyError(f"no run records yet in {study.generated / 'records'}: run the "
                             f"experiment first")
        if args.metric:
            raise StudyError("--metric applies to study.yaml reports; experiment reports "
                             "plot their primary score")
        paths = write_experiment_reports(study, records)
    else:
        from .reports import write_reports

        written = write_reports(study, metric=args.metric)
        paths = [written["summary"], written["plot"], written["workbook"]]
    if args.show:
        try:
            from .experiment import show_reports
        except ImportError:  # pragma: no cover
            show_reports = None
        if show_reports is not None:
            show_reports(paths)
            return 0
    for p in paths:
        print(p)
    return 0


def cmd_summary_append(args: argparse.Namespace) -> int:
    from .summary_log import append_summary, paths

    study, _ = _study(args)
    append_summary(study, author=args.author, note=args.note, hypothesis=args.hypothesis,
                   condition=args.condition, evidence=args.evidence)
    md, log = paths(study)
    print(f"Appended to {md} and {log}")
    return 0
