"""Submissions: ids, folders, ``submissions.jsonl``, and the runs still to do.

``<generated>/slurm/submissions.jsonl`` gets one line per submission (appended under a
file lock, one write per line)::

    {"id", "kind": "submitit"|"slurm-array", "submitted_at", "study", "array_mode",
     "retry_failed", "dir", "job_ids": [...], "runs": {run_id: job ref},
     "groups": [{"job_id", "group", "run_ids", "log"}]}      # submitit only

A job ref is ``"123"`` or ``"123_4"`` (array task). ``status`` reads these lines to ask
Slurm about runs that have not reported yet.
"""
from __future__ import annotations

import contextlib

import argparse
import json
import os
import time
import uuid
from pathlib import Path

from ..errors import StudyError
from ..ledger.lockfile import append_line

SUBMISSIONS = "submissions.jsonl"


def slurm_dir(generated: Path) -> Path:
    return Path(generated) / "slurm"


def new_submission_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def append_submission(generated: Path, entry: dict) -> None:
    append_line(slurm_dir(generated) / SUBMISSIONS, entry)


def read_submissions(generated: Path) -> list[dict]:
    path = slurm_dir(generated) / SUBMISSIONS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line from a crashed writer: skip it
        if isinstance(entry, dict) and isinstance(entry.get("runs"), dict):
            out.append(entry)
    return out


def load_selection(args: argparse.Namespace):
    """(plan, records) for a submission: the filtered plan (experiment folder pinned) and
    the records, reconciled with Slurm so that ended jobs count as failed and runs still
    queued by an earlier submission are known."""
    from ..cli import load_plan
    from ..ledger import Ledger

    plan = load_plan(args)
    if plan.study.kind == "experiment":
        from ..report.experiment import pin_workspace

        plan = pin_workspace(args, plan)
    elif getattr(args, "workspace", None):
        raise StudyError("--workspace pins an experiment folder; a study.yaml's workspace "
                         "is its own directory")
    records = Ledger(plan.study.generated).all()
    return plan, records


@contextlib.contextmanager
def locked_selection(args: argparse.Namespace):
    """``load_selection`` under the study lock, held while the submission is decided and
    written (``--wait``: wait for another orchestrator instead of exit 2)."""
    from ..ledger.studylock import study_lock

    plan, records = load_selection(args)
    study = plan.study
    with study_lock(study.workspace, study=f"study {study.study_id}",
                    wait=getattr(args, "wait", False)):
        from ..ledger import Ledger

        # what another orchestrator finished while this one waited counts
        yield plan, Ledger(study.generated).all() if getattr(args, "wait", False) else records


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


def nothing_to_submit(args: argparse.Namespace, plan) -> int:
    print("No runs to submit.")
    release_experiment_folder(args, plan)
    return 0


def release_experiment_folder(args: argparse.Namespace, plan) -> None:
    """Give back an experiment folder this invocation claimed but did not use."""
    if plan.study.kind == "experiment":
        from ..report.experiment import release_workspace

        release_workspace(args)


def write_experiment_spec(plan) -> None:
    if plan.study.kind == "experiment":
        from ..report.experiment import write_spec_copy

        write_spec_copy(plan.study, plan)


def describe(plan, decisions, todo, queued: dict) -> str:
    s = decisions.summary()
    text = (f"Study {plan.study.study_id}: {len(plan.runs)} run(s) selected"
            f"{'' if not plan.filters else f' of {plan.total}'} — new {s['new']}, "
            f"retry {s['retry']}, stale {s['stale']}, skip (complete) {s['skip']}, "
            f"failed left {s['failed_left']}, reuse {s['reuse']}")
    if queued:
        text += (f"\n  {len(queued)} run(s) already queued or running on Slurm "
                 f"(not submitted again)")
    if decisions.left_failed:
        text += f"\n  {len(decisions.left_failed)} failed run(s) not resubmitted " \
                f"(use --retry-failed)"
    return text


def study_ref(study) -> str:
    """What ``--study`` must say in a job to load this study (FILE#NAME for experiments)."""
    return f"{study.file}#{study.name}" if study.kind == "experiment" else str(study.file)


def env_lines(values: dict[str, str]) -> str:
    import shlex

    return "".join(f"export {k}={shlex.quote(str(v))}\n" for k, v in values.items())


def write_env_file(path: Path, values: dict[str, str]) -> None:
    from ..atomic import atomic_write_text

    atomic_write_text(path, "# sourced by the Slurm template of this submission\n"
                      + env_lines(values), mode=0o644)


def relpath_or_abs(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)
