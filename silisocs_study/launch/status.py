"""``silisocs-study status``: what the records say about the plan."""
from __future__ import annotations

import argparse
import json
from collections import Counter

STATUS_ORDER = ("success", "reused", "failed", "timeout", "running", "stale", "pending")


def study_status(plan, records: dict[str, dict]) -> dict:
    rows: dict[str, Counter] = {}
    failed, stale = [], []
    for run in plan.runs:
        rec = records.get(run.run_id)
        if rec is None:
            status = "pending"
        else:
            status = rec.get("status", "pending")
            if status in ("success", "reused") and rec.get("fingerprint") != run.fingerprint:
                status = "stale"
                stale.append(run.run_id)
        rows.setdefault(run.group.key, Counter())[status] += 1
        if status in ("failed", "timeout"):
            failed.append({"run_id": run.run_id, "status": status, "error": rec.get("error"),
                           "log_path": rec.get("log_path"),
                           "error_tail": (rec.get("error_tail") or [])[-3:]})
    return {"study_id": plan.study.study_id, "groups": {k: dict(v) for k, v in rows.items()},
            "failed": failed, "stale": stale,
            "totals": dict(sum(rows.values(), Counter()))}


def print_status(args: argparse.Namespace) -> int:
    from ..cli import load_plan
    from ..ledger import Ledger

    plan = load_plan(args)
    if plan.study.kind == "experiment":
        plan = _experiment_folder(args, plan)
    elif getattr(args, "workspace", None):
        from ..errors import StudyError

        raise StudyError("--workspace names an experiment folder; a study.yaml's workspace "
                         "is its own directory")
    if plan.study.kind == "study":   # runs the silisocs runner made count as ours
        from ..ledger.adopt import adopt_external

        adopted = adopt_external(plan)
        if adopted and not args.json:
            print(f"Adopted {len(adopted)} run(s) recorded by the silisocs runner")
    ledger = Ledger(plan.study.generated)
    records = ledger.all()
    damaged = dict(ledger.damaged)   # not JSON, not an object, another run's, a FIFO...
    try:
        from ..hpc.reconcile import reconcile_slurm
    except ImportError:
        pass
    else:
        records = reconcile_slurm(plan.study, records) or records
    data = study_status(plan, records)
    data["damaged"] = damaged
    warning = ledger.damaged_warning()
    if warning:
        import sys

        print(warning, file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if plan.study.kind == "experiment":
        print(f"Experiment folder: {plan.study.workspace}")
    print(f"Study {data['study_id']}: " + ", ".join(
        f"{s} {data['totals'][s]}" for s in STATUS_ORDER if data["totals"].get(s)))
    header = ("hypothesis/condition",) + STATUS_ORDER
    table = [header] + [(key,) + tuple(str(c.get(s, 0)) for s in STATUS_ORDER)
                        for key, c in data["groups"].items()]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    if data["failed"]:
        print("Failed runs:")
        for f in data["failed"]:
            print(f"  [{f['status']}] {f['run_id']}: {f['error']}")
            if f["log_path"]:
                print(f"      log: {f['log_path']}")
            for line in f["error_tail"]:
                print(f"      | {line}")
    if data["stale"]:
        print(f"Stale runs (completed with an older plan): {len(data['stale'])}")
        for run_id in data["stale"][:20]:
            print(f"  {run_id}")
    return 0


def _experiment_folder(args, plan):
    """An experiment's status is its folder's: ``--workspace``, a ``_spec_.yaml`` given as
    the study, or the latest folder holding records (none yet: the next one, all pending)."""
    from ..cli import filters_from
    from ..errors import StudyError
    from ..plan import build_plan
    from ..report.experiment import _refold, load_experiment

    study = plan.study
    pinned = getattr(args, "workspace", None) or study.meta.get("pinned_folder")
    try:
        there = load_experiment(f"{study.file}#{study.name}", study.repo_root,
                                workspace=pinned)
    except StudyError:
        if pinned:
            raise
        return plan   # no folder with records yet
    _refold(there, study)
    return build_plan(there, filters_from(args))
