"""Records vs. Slurm: what became of runs submitted with ``submitit`` / ``slurm-array``.

A run is *unsettled* when it belongs to a submission (its latest one in
``submissions.jsonl``) or its record names a Slurm job, and its record is missing,
``running``, or older than that submission. For those, Slurm is asked (squeue for live
jobs, then sacct):

* job pending/running, run not started  → shown as ``pending`` (nothing written)
* job running, record ``running``       → left as is
* job ended, run never reported / still ``running`` → a final record is written through
  the ledger: CANCELLED → failed "cancelled (Slurm)"; TIMEOUT/DEADLINE → timeout;
  OUT_OF_MEMORY, NODE_FAIL, FAILED, COMPLETED… → failed naming the state (and the log).
* job unknown (sacct lags the end of a job by seconds) → left alone; ask again later.

Nothing here calls Slurm unless some run is unsettled, so ``status`` stays fast and works
on machines without Slurm.
"""
from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..ledger import Ledger
from ..status import COMPLETE_VALUES
from .slurm import LIVE_STATES, SlurmError, job_states
from .submission import read_submissions



@dataclass
class Reconciled:
    records: dict[str, dict]
    queued: dict[str, str] = field(default_factory=dict)    # run_id → job ref (live job)
    written: list[str] = field(default_factory=list)        # run ids given a final record


def _record_ref(rec: dict | None) -> str | None:
    if not rec:
        return None
    array, task = rec.get("slurm_array_job_id"), rec.get("slurm_array_task_id")
    if array and task is not None:
        return f"{array}_{task}"
    return rec.get("slurm_job_id")


def _running_ref(rec: dict | None) -> str | None:
    return _record_ref(rec) if rec and rec.get("status") == "running" else None


def _newest_time(rec: dict) -> str:
    return max(str(rec.get(k) or "") for k in ("started_at", "finished_at"))


def _settled(rec: dict | None, sub: dict | None, ref: str) -> bool:
    """True when the record already tells the fate of the run's latest submission."""
    if rec is None:
        return False
    status = rec.get("status")
    if status == "running":
        return False
    if sub is None:
        return True
    if ref in (_record_ref(rec), rec.get("slurm_job_id"), rec.get("slurm_job_ref")):
        return True
    return _newest_time(rec) >= str(sub.get("submitted_at") or "")


def _final_status(state: str) -> tuple[str, str]:
    if state == "CANCELLED":
        return "failed", "cancelled (Slurm)"
    if state in ("TIMEOUT", "DEADLINE"):
        return "timeout", f"{state.lower()} (Slurm time limit)"
    texts = {"OUT_OF_MEMORY": "out of memory (Slurm)", "NODE_FAIL": "node failure (Slurm)",
             "BOOT_FAIL": "node boot failure (Slurm)", "PREEMPTED": "preempted (Slurm)",
             "FAILED": "the Slurm job failed before the run reported",
             "COMPLETED": "the Slurm job ended without the run reporting"}
    return "failed", texts.get(state, f"Slurm job ended {state} without the run reporting")


def reconcile(study, records: dict[str, dict], *, write: bool = True) -> Reconciled | None:
    """Ask Slurm about unsettled runs; None when no run needs asking (or Slurm can't say)."""
    generated = Path(study.generated)
    subs = read_submissions(generated)
    latest: dict[str, tuple[dict | None, str]] = {}
    for submission in subs:
        for run_id, ref in submission["runs"].items():
            latest[run_id] = (submission, str(ref))
    for run_id, record in records.items():  # runs started by a job nobody recorded (manual sbatch)
        if record.get("status") == "running" and run_id not in latest:
            ref = _record_ref(record)
            if ref:
                latest[run_id] = (None, str(ref))
    need = {rid: v for rid, v in latest.items() if not _settled(records.get(rid), *v)}
    if not need:
        return None
    refs = [ref for _, ref in need.values()]
    refs += [own for rid in need if (own := _running_ref(records.get(rid)))]
    try:
        states = job_states(list(dict.fromkeys(refs)))
    except SlurmError as exc:
        print(f"warning: cannot ask Slurm about {len(need)} submitted run(s): {exc.message}",
              file=sys.stderr)
        return None
    out = Reconciled(dict(records))
    jobs = _JobDocs(study)
    for run_id, (sub, ref) in need.items():
        rec = records.get(run_id)
        if rec is not None and rec.get("status") == "running" and _record_ref(rec) is None \
                and _newest_time(rec) >= str((sub or {}).get("submitted_at") or ""):
            continue  # started after the submission outside Slurm: that process reports it
        own_ref = _running_ref(rec)   # a started run: the job that runs it decides
        state = states.get(own_ref or ref)
        if state is None:
            continue
        if state in LIVE_STATES:
            out.queued[run_id] = ref
            if rec is not None and rec.get("status") == "running":
                continue
            out.records[run_id] = {"run_id": run_id, "status": "pending",
                                   "slurm_job_ref": ref, "slurm_state": state,
                                   "submission": sub.get("id") if sub else None}
            continue
        if not write or (rec is not None and rec.get("status") in COMPLETE_VALUES):
            continue  # never overwrite a completed run with a job's failure
        job = jobs.get(run_id, sub)
        if job is None:
            continue
        current = Ledger(generated).read(run_id)  # the run may have reported meanwhile
        if (current or {}).get("attempt_id") != (rec or {}).get("attempt_id"):
            continue
        status, error = _final_status(state)
        log = _log_of(sub, ref)
        if log and state not in ("CANCELLED",):
            error += f"; log: {log}"
        out.records[run_id] = _write_final(job, rec, status, error, own_ref or ref, state,
                                           sub)
        out.written.append(run_id)
    return out


def reconcile_slurm(study, records: dict[str, dict]) -> dict | None:
    """``status`` hook: the records augmented with what Slurm says (see module doc)."""
    result = reconcile(study, records, write=True)
    if result is None:
        return None
    if result.written:
        print(f"Slurm: recorded {len(result.written)} run(s) whose job ended without "
              f"reporting", file=sys.stderr)
    return result.records


def _log_of(sub: dict | None, ref: str) -> str | None:
    if not sub:
        return None
    for group in sub.get("groups") or []:
        if group.get("job_id") == ref:
            return group.get("log")
    pattern = sub.get("log_pattern")
    if pattern and "_" in ref:
        job, task = ref.split("_", 1)
        return pattern.replace("%A", job).replace("%a", task)
    return None


class _JobDocs:
    """Job documents for runs that must get a record: from the plan, else jobs/<id>.json."""

    def __init__(self, study) -> None:
        self.study = study
        self._runs: dict | None = None

    def get(self, run_id: str, sub: dict | None) -> dict | None:
        from ..jobs import job_document, read_job
        from ..spec.study_v1 import python_executable

        if self._runs is None:
            from ..plan import build_plan

            try:
                self._runs = {r.run_id: r for r in build_plan(self.study).runs}
            except Exception:  # a study that no longer plans: fall back to job files
                self._runs = {}
        run = self._runs.get(run_id)
        session = (sub or {}).get("id") or "slurm"
        if run is not None:
            return job_document(self.study, run, python_executable(), session=session)
        try:
            return read_job(Path(self.study.generated) / "jobs" / f"{run_id}.json")
        except (OSError, ValueError):
            return None


def _write_final(job: dict, rec: dict | None, status: str, error: str, ref: str, state: str,
                 sub: dict | None) -> dict:
    from ..ledger.recorder import base_record, record_finish

    if rec is not None and rec.get("status") == "running":
        started = dict(rec)
    else:
        started = base_record(job, uuid.uuid4().hex)
        started.update(started_at=None, launcher="slurm")
    array, _, task = ref.partition("_")
    started.setdefault("slurm_job_id", ref)
    started.update(slurm_job_ref=ref, slurm_state=state)
    if task:
        started.setdefault("slurm_array_job_id", array)
        started.setdefault("slurm_array_task_id", task)
    if sub:
        started["submission"] = sub.get("id")
        if sub.get("adaptive_round") is not None and started.get("adaptive_round") is None:
            started["adaptive_round"] = sub["adaptive_round"]   # the round it was run in
    return record_finish(job, started, status=status, error=error, evaluate=False)
