"""What the records say about a plan: counts per group, failures, stale runs."""
from __future__ import annotations

from collections import Counter

from ..status import Record, Status

STATUS_ORDER = ("success", "reused", "failed", "timeout", "running", "stale", "pending")


def study_status(plan, records: dict[str, dict], saved: set[str] | frozenset = frozenset()
                 ) -> dict:
    """Counts per group from the records; ``saved``: runs an adaptive study will not run
    (their arm stopped), counted as "saved" instead of pending."""
    rows: dict[str, Counter] = {}
    failed, stale = [], []
    for run in plan.runs:
        rec = records.get(run.run_id)
        state = Record(rec).state_against(run.fingerprint) if rec is not None \
            else Status.PENDING
        if state is Status.STALE:
            stale.append(run.run_id)
        status = rec.get("status", "pending") if rec is not None and \
            state is not Status.STALE else state.value   # an unknown value shown as written
        if rec is None and run.run_id in saved:
            status = "saved"
        rows.setdefault(run.group.key, Counter())[status] += 1
        if state in (Status.FAILED, Status.TIMEOUT) and rec is not None:   # failed: recorded
            failed.append({"run_id": run.run_id, "status": status, "error": rec.get("error"),
                           "log_path": rec.get("log_path"),
                           "error_tail": (rec.get("error_tail") or [])[-3:]})
    return {"study_id": plan.study.study_id, "groups": {k: dict(v) for k, v in rows.items()},
            "failed": failed, "stale": stale,
            "totals": dict(sum(rows.values(), Counter()))}
