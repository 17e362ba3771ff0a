"""The runs a submission still has to do: decided like ``run`` decides, minus what Slurm
already has queued or running (from earlier submissions) and what executes elsewhere."""
from __future__ import annotations


def runs_to_do(plan, records: dict, *, retry_failed: bool, stale: str, write: bool = True):
    """(runs to submit in plan order, decisions, ids queued in earlier submissions).

    Runs whose earlier job ended without reporting get their failed record first (unless
    ``write`` is false: dry runs write nothing)."""
    from ..launch.decide import decide
    from .reconcile import reconcile

    result = reconcile(plan.study, records, write=write)
    view = result.records if result is not None else records
    queued = result.queued if result is not None else {}
    decisions = decide(plan.runs, view, retry_failed=retry_failed, stale=stale)
    wanted = {r.run_id for r in decisions.launch} | {r.run_id for r in decisions.reuse}
    todo = [r for r in plan.runs if r.run_id in wanted and r.run_id not in queued]
    todo = [r for r in todo if r.reuse is not None or not _executing(r)]
    skipped_queued = sorted(r.run_id for r in plan.runs if r.run_id in wanted
                            and r.run_id in queued)
    return todo, decisions, {k: queued[k] for k in skipped_queued}


def _executing(run) -> bool:
    """A live process holds the run's lease (a job of another submission, a local run)."""
    from ..ledger import lease

    holder = lease.holder(run.output_dir)
    if holder is not None:
        print(f"  {run.run_id} is executing in {lease.describe(holder)}: not submitted")
    return holder is not None
