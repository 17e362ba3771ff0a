"""Runs whose attempt finished but whose record did not: recorded now, never run again.

An attempt marks its run folder done the moment its app or command finishes
(:func:`silisocs_study.rundir.write_done`, by the job's process or an exact command's
guard), before its evaluators run and its record is written. If its orchestrator is killed in
that window, the record still says "running"; the next orchestrator finds the mark of that
very attempt, sees nobody holds the run's lease any more, and writes the record (evaluating
it) instead of running the simulation a second time.
"""
from __future__ import annotations

from ..model import Run, Study


def recover_finished(study: Study, runs: list[Run], ledger, python: str) -> list[str]:
    """Record every run of ``runs`` whose interrupted attempt had finished; returns their ids."""
    from ..jobs import job_document
    from ..ledger import lease
    from ..ledger.recorder import record_finish
    from ..rundir import read_done

    recovered = []
    for run in runs:
        if run.reuse is not None:
            continue
        rec = ledger.read(run.run_id)
        if rec is None or rec.get("status") != "running":
            continue
        done = read_done(run.output_dir)
        if not done or done.get("attempt_id") != rec.get("attempt_id"):
            continue
        if lease.holder(run.output_dir) is not None:
            continue   # its own process is still recording it
        job = job_document(study, run, python, session=rec.get("session") or "recovered")
        record_finish(job, rec, status=str(done.get("status") or "failed"),
                      exit_code=done.get("exit_code"), error=done.get("error"),
                      warnings=["its orchestrator stopped after the run finished and before "
                                "it was recorded: recorded (and evaluated) from the run "
                                "folder's done mark, not run again"])
        recovered.append(run.run_id)
    return recovered
