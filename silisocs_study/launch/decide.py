"""What to do with each planned run, given the records: the resume logic, in one place.

new        no record, or a record that never finished (a killed orchestrator's "running")
skip       success with the plan's fingerprint (``skipped_complete``)
stale      success with another fingerprint → rerun | skip | error (policy)
retry      failed/timeout and ``retry_failed`` (or ``force``)
failed     failed/timeout, left alone (no ``retry_failed``) unless its plan changed since
reuse      reuse_existing runs: recorded without launching (again when an evaluator of its
           condition failed or is missing from its record, unless ``re_evaluate: false``)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import StudyError
from ..model import Run

STALE_POLICIES = ("rerun", "skip", "error")


@dataclass
class Decisions:
    launch: list[Run] = field(default_factory=list)   # new + retry + stale reruns + forced
    reuse: list[Run] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    left_failed: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {"new": len(self.new), "retry": len(self.retry), "stale": len(self.stale),
                "skip": len(self.skipped), "failed_left": len(self.left_failed),
                "reuse": len(self.reuse), "forced": len(self.forced),
                "launch": len(self.launch)}


def decide(runs: list[Run], records: dict[str, dict], *, force: bool = False,
           retry_failed: bool = False, stale: str = "rerun",
           session: str | None = None) -> Decisions:
    """Sort runs into actions. Runs already attempted in ``session`` are never relaunched."""
    if stale not in STALE_POLICIES:
        raise StudyError(f"stale policy must be one of {', '.join(STALE_POLICIES)}, "
                         f"got '{stale}'")
    d = Decisions()
    stale_errors = []
    for run in runs:
        rec = records.get(run.run_id)
        if session is not None and rec is not None and rec.get("session") == session \
                and rec.get("status") != "running":
            continue  # this invocation already tried it (a resumed sweep after a crash)
        if run.reuse is not None:
            if force or rec is None or rec.get("fingerprint") != run.fingerprint or \
                    rec.get("status") != "reused" or run.group.re_evaluate and \
                    (_evals_failed(rec) or _evals_missing(rec, run)):
                d.reuse.append(run)
            else:
                d.skipped.append(run.run_id)
            continue
        status = rec.get("status") if rec else None
        if force:
            d.launch.append(run)
            d.forced.append(run.run_id)
        elif rec is None or status == "running":
            d.launch.append(run)
            d.new.append(run.run_id)
        elif status == "success":
            if rec.get("fingerprint") == run.fingerprint:
                d.skipped.append(run.run_id)
            elif stale == "rerun":
                d.launch.append(run)
                d.stale.append(run.run_id)
            elif stale == "skip":
                d.stale.append(run.run_id)
            else:
                stale_errors.append(run.run_id)
        elif retry_failed:
            d.launch.append(run)
            d.retry.append(run.run_id)
        elif rec.get("fingerprint") != run.fingerprint and stale == "rerun":
            d.launch.append(run)  # it failed under an older plan: the new plan is untried
            d.stale.append(run.run_id)
        else:
            d.left_failed.append(run.run_id)
    if stale_errors:
        more = f" and {len(stale_errors) - 3} more" if len(stale_errors) > 3 else ""
        raise StudyError(f"{len(stale_errors)} completed run(s) are stale (their plan changed): "
                         f"{', '.join(stale_errors[:3])}{more}; use stale=rerun or stale=skip")
    return d


def _evals_failed(rec: dict) -> bool:
    return any(e.get("status") == "failed" for e in rec.get("evaluations") or [])


def _evals_missing(rec: dict, run: Run) -> bool:
    """A reused run recorded before its condition had (some of) its evaluators: recording it
    again evaluates it (nothing is launched)."""
    have = {e.get("id") for e in rec.get("evaluations") or []}
    return any(spec.id not in have for spec in run.group.evaluators)
