"""``status``: counts per hypothesis × condition, failures, stale runs — from the records."""
from __future__ import annotations

import json
import sys

from ..launch.status import STATUS_ORDER, study_status
from ..ledger import Ledger
from ..plan import Plan


def status(plan: Plan, *, as_json: bool = False) -> int:
    if plan.study.kind == "study":   # runs the silisocs runner made count as ours
        from ..ledger.adopt import adopt_external

        adopted = adopt_external(plan)
        if adopted and not as_json:
            print(f"Adopted {len(adopted)} run(s) recorded by the silisocs runner")
    ledger = Ledger(plan.study.generated)
    records = ledger.all()
    damaged = dict(ledger.damaged)   # not JSON, not an object, another run's, a FIFO...
    from ..hpc.reconcile import reconcile_slurm

    records = reconcile_slurm(plan.study, records) or records
    from ..report.seed_plan import current_decisions, seed_lines, seed_summary

    decisions = current_decisions(plan.study) if records else None
    saved: set[str] = set()
    if plan.study.adaptive:
        from ..launch.rounds import next_round
        from ..report.adaptive_state import arm_rows, totals

        rnd = next_round(plan, records.values(), {"decisions": decisions} if decisions
                         else None)
        saved = {r.run_id for r in rnd.saved}
    data = study_status(plan, records, saved)
    data["damaged"] = damaged
    if plan.study.adaptive:
        data["adaptive"] = {"next_round": rnd.number, "next_round_runs": len(rnd.runs),
                            **totals(rnd.blocks), "arms": arm_rows(rnd.blocks)}
    data["decisions"] = seed_summary(decisions)
    warning = ledger.damaged_warning()
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    if plan.study.kind == "experiment":
        print(f"Experiment folder: {plan.study.workspace}")
    _print_table(data)
    if data["decisions"]:
        print("Decisions (from the records so far; report.html has the details):")
        for line in seed_lines(decisions):
            print(line)
    return 0


def _print_table(data: dict) -> None:
    order = STATUS_ORDER + (("saved",) if data["totals"].get("saved") else ())
    print(f"Study {data['study_id']}: " + ", ".join(
        f"{s} {data['totals'][s]}" for s in order if data["totals"].get(s)))
    header = ("hypothesis/condition",) + order
    table = [header] + [(key,) + tuple(str(c.get(s, 0)) for s in order)
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
