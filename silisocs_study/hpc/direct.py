"""Array tasks of one run that start the app themselves: Hydra single-run mode + StudyCallback.

Why: a task that goes through ``python -m silisocs_study task`` pays for its own interpreter
and a Hydra multirun, which composes the config twice (once for the sweep, once for the job)
— for a short run about twice what a raw ``sbatch --array`` of the same command costs. A
one-run task needs neither: the run was decided at submission, so the template runs the
app's exact command (:func:`silisocs_study.plan.argv`) with the study callback attached and
the job file named, and the record is written by the same callback as on every other path.
Hard crashes are caught by the finalize job's ``sacct`` reconcile; it also rebuilds the views.

The command is stored NUL-separated (``tasks/<index>.argv``) so any byte survives to the
template's ``mapfile -d ''``. Runs that reuse earlier outputs, exact-command runs (they need
the command app's process-group handling) and packed tasks keep the ``task`` path.
"""
from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write_bytes
from ..model import Run, Study

ARGV_DIR = "tasks"
CALLBACK_TARGET = "silisocs_study.callbacks.StudyCallback"


def argv_file(submission: Path, index: int) -> Path:
    return submission / ARGV_DIR / f"{index}.argv"


def direct_argv(study: Study, run: Run, python: str, *, session: str,
                timeout_seconds: float | None, extra: list[str],
                adaptive_round: int | None = None) -> list[str] | None:
    """The run's command in single-run mode with StudyCallback, writing its job file (with
    the adaptive round it belongs to, if any); ``None`` for runs that need the ``task`` path."""
    from ..jobs import JOB_ENV, write_job
    from ..overrides import format_override
    from ..plan import argv

    from ..rundir import move_aside

    if run.reuse is not None or run.command is not None:
        return None
    # the task starts the app itself: what an earlier attempt left is moved aside now
    previous = move_aside(run.output_dir, protect=(study.repo_root, study.workspace,
                                                   study.generated))
    job = write_job(study, run, python, session=session, timeout_seconds=timeout_seconds,
                    previous_attempt=previous, adaptive_round=adaptive_round)
    return [*argv(run, python),
            format_override("hydra.run.dir", run.output_dir),
            format_override("++hydra.callbacks.study._target_", CALLBACK_TARGET),
            format_override(f"++hydra.job.env_set.{JOB_ENV}", str(job)),
            *extra]


def write_direct_tasks(submission: Path, study: Study, tasks: list, python: str, *,
                       session: str, timeout_seconds: float | None, extra: list[str],
                       adaptive_round: int | None = None) -> int:
    """Write ``tasks/<index>.argv`` for every one-run task that can start its app directly."""
    n = 0
    for task in tasks:
        if len(task.runs) != 1:
            continue
        cmd = direct_argv(study, task.runs[0], python, session=session,
                          timeout_seconds=timeout_seconds, extra=extra,
                          adaptive_round=adaptive_round)
        if cmd is not None:
            atomic_write_bytes(argv_file(submission, task.index),
                               b"".join(a.encode() + b"\0" for a in cmd))
            n += 1
    return n
