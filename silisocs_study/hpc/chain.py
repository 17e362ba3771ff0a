"""An adaptive study on Slurm: round after round, each submitted by the finalize job of the
round before.

``slurm-array --submit`` submits the next round of an adaptive study (its runs still to do)
and a finalize job (``afterany``). That job reconciles with Slurm, rebuilds the views, then
looks at the records (:func:`after_round`):

* the next round has runs to do → they are submitted exactly as ``slurm-array --submit``
  did (the same options, kept in the submission's tasks.json): a new line in
  submissions.jsonl with its own finalize job, and the chain goes on;
* its runs are queued by another submission → that submission's finalize job goes on;
* nothing left → every arm has stopped: the reports, and the adaptive summary.

The chain keeps the rules of every submission. It decides under the study lock: the
finalize job takes the lock as any orchestrator does (the process that submitted it has
long let go, so the variable naming the lock it held, inherited through ``--export=ALL``,
is dropped first); while someone else holds it the job waits, up to ``LOCK_PATIENCE``.
Runs another submission has queued, or that a live process holds, are not submitted, and a
run is submitted at most once per chain (a round submits new seeds or nothing, so the
chain ends). ``scancel`` of a round's finalize job stops the chain there; ``slurm-array
--submit`` starts it again from the records.
"""
from __future__ import annotations

import os
import shlex
import sys
import time

from ..constants import COMMAND
from ..errors import StudyError
from .options import SubmitOptions
from .submission import study_ref

LOCK_PATIENCE = 20 * 60.0   # seconds; the finalize job's time limit is 30 minutes
LOCK_POLL = 10.0
# client settings a user may have set for the whole chain; every other SLURM_* variable in
# a finalize job describes that job, and must not leak into the next round's jobs
KEEP_SLURM = frozenset({"SLURM_CONF", "SLURM_CLUSTERS", "SLURM_TIME_FORMAT", "SLURM_UMASK",
                        "SLURM_DEBUG_FLAGS"})


def after_round(meta: dict, plan, views) -> int:
    """The finalize job of a round (``meta``: its tasks.json; ``views``: just rebuilt):
    submit the next round, or write the reports when there is none."""
    info = meta["adaptive"]
    done = info.get("round")
    if not info.get("chain"):   # written without --submit, sbatch.sh run by hand: one round
        return _by_hand(plan, views, done)
    _leave_job_environment()
    opts = SubmitOptions.from_json(info["options"])
    print(f"adaptive round {done} ended: the next round, from the records", flush=True)
    got = _submit_when_free(opts, info["chain"])
    if got is None:
        return 1
    sel = got.selection
    if got.job_ids or got.rc or sel is None:
        return got.rc
    if sel.queued:
        print(f"adaptive: {len(sel.queued)} run(s) of this round are queued by another "
              f"submission; its finalize job goes on from there", flush=True)
        return 0
    return _final(plan, views, sel.round)


def _submit_when_free(opts: SubmitOptions, chain: str):
    """:func:`submit_round` under the study lock, waiting while another orchestrator holds
    it; None (the reason printed) when the round could not be submitted."""
    from ..ledger.studylock import StudyBusy
    from .slurm_array import submit_round

    deadline = time.monotonic() + LOCK_PATIENCE
    told = False
    while True:
        try:
            return submit_round(opts, chain=chain)
        except StudyBusy as exc:
            if time.monotonic() >= deadline:
                _not_submitted(opts, exc.message)
                return None
            if not told:
                print(f"waiting up to {LOCK_PATIENCE / 60:.0f} min: {exc.message}",
                      flush=True)
                told = True
            time.sleep(LOCK_POLL)
        except StudyError as exc:
            _not_submitted(opts, exc.message)
            return None


def _not_submitted(opts: SubmitOptions, why: str) -> None:
    command = f"{COMMAND} --study {shlex.quote(opts.study)} slurm-array --submit"
    print(f"error: the next adaptive round was not submitted: {why}; `{command}` (with the "
          f"same options) goes on from the records", file=sys.stderr, flush=True)


def _by_hand(plan, views, done) -> int:
    """A round written without ``--submit``: say what comes next, submit nothing."""
    from ..launch.decide import decide
    from ..launch.rounds import next_round

    by_id = {r["run_id"]: r for r in views.records}
    rnd = next_round(plan, views.records, views.analysis)
    left = decide(rnd.runs, by_id).launch
    if left:
        print(f"adaptive round {done} ended; next: {rnd.line()} — {len(left)} run(s) to do, "
              f"not submitted (this submission was written without --submit): run "
              f"`{COMMAND} --study {shlex.quote(study_ref(plan.study))} slurm-array` again",
              flush=True)
        return 0
    return _final(plan, views, rnd)


def _final(plan, views, rnd) -> int:
    """Every arm has stopped: the views as they are now, the reports, the summary."""
    from ..launch.runner import write_study_reports
    from ..views import refresh
    from ..workspace import Workspace

    study = plan.study
    fresh = refresh(plan)   # the last selection may have recorded ended jobs
    final = fresh if fresh.rebuilt else views
    if rnd is not None:
        print(f"Adaptive: every arm has stopped — {rnd.summary()}", flush=True)
    if study.kind != "experiment" and final.records:
        write_study_reports(study, final.records, final.analysis)
    return Workspace(plan).finish(final.records)


def _leave_job_environment() -> None:
    """This process submits as a user would: it holds no lock yet, and is no Slurm job's
    step to the jobs it submits (``--export=ALL`` passes its environment on)."""
    from ..ledger.studylock import HELD_ENV

    os.environ.pop(HELD_ENV, None)
    for key in [k for k in os.environ if k.startswith(("SLURM_", "SLURMD_"))
                and k not in KEEP_SLURM]:
        os.environ.pop(key, None)
