"""The runs a submission still has to do: decided like ``run`` decides, minus what Slurm
already has queued or running (from earlier submissions) and what executes elsewhere.

An adaptive study submits one round at a time (:func:`round_to_do`): the next round's runs
(:func:`silisocs_study.launch.rounds.next_round`, from the records after the Slurm
reconcile), then the same selection on them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection


@dataclass
class Selection:
    """What one submission takes: ``todo`` (plan order) and why the others are left."""
    todo: list
    decisions: Any                      # launch.decide.Decisions of the candidates
    queued: dict[str, str]              # run id → job ref: queued by an earlier submission
    attempted: list[str] = field(default_factory=list)  # earlier rounds of the same chain
    round: Any = None                   # launch.rounds.Round (adaptive studies)


def runs_to_do(plan, records: dict, *, retry_failed: bool, stale: str, write: bool = True):
    """(runs to submit in plan order, decisions, ids queued in earlier submissions).

    Runs whose earlier job ended without reporting get their failed record first (unless
    ``write`` is false: dry runs write nothing)."""
    sel = select(plan, records, retry_failed=retry_failed, stale=stale, write=write,
                 rounds=False)
    return sel.todo, sel.decisions, sel.queued


def select(plan, records: dict, *, retry_failed: bool, stale: str, write: bool = True,
           rounds: bool | None = None, attempted: Collection[str] = ()) -> Selection:
    """The submission's runs. ``rounds`` (default: the study is adaptive): only the next
    round's; ``attempted``: runs an earlier round of the same chain submitted — never again
    (each run is tried at most once per chain, as once per ``run`` session, so it ends)."""
    from ..launch.decide import decide
    from .reconcile import reconcile

    result = reconcile(plan.study, records, write=write)
    view = result.records if result is not None else records
    queued = result.queued if result is not None else {}
    candidates = plan.runs
    rnd = None
    if rounds is None:
        rounds = bool(plan.study.adaptive)
    if rounds:
        from ..launch.rounds import next_round

        # the records as they stand (with the failures the reconcile just wrote), not the
        # view's "pending" stand-ins for queued runs
        real = dict(records)
        if result is not None:
            real.update({rid: result.records[rid] for rid in result.written})
        rnd = next_round(plan, real.values())
        candidates = rnd.runs
    decisions = decide(candidates, view, retry_failed=retry_failed, stale=stale)
    wanted = {r.run_id for r in decisions.launch} | {r.run_id for r in decisions.reuse}
    before = set(attempted)
    todo = [r for r in candidates if r.run_id in wanted and r.run_id not in queued]
    again = [r.run_id for r in todo if r.run_id in before]
    todo = [r for r in todo if r.run_id not in before]
    todo = [r for r in todo if r.reuse is not None or not _executing(r)]
    skipped_queued = sorted(r.run_id for r in candidates if r.run_id in wanted
                            and r.run_id in queued)
    return Selection(todo, decisions, {k: queued[k] for k in skipped_queued}, again, rnd)


def _executing(run) -> bool:
    """A live process holds the run's lease (a job of another submission, a local run)."""
    from ..ledger import lease

    holder = lease.holder(run.output_dir)
    if holder is not None:
        print(f"  {run.run_id} is executing in {lease.describe(holder)}: not submitted")
    return holder is not None
