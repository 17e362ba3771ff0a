"""Submissions: ids, folders, ``submissions.jsonl``, and the runs still to do.

``<generated>/slurm/submissions.jsonl`` gets one line per submission (appended under a
file lock, one write per line)::

    {"id", "kind": "submitit"|"slurm-array", "submitted_at", "study", "array_mode",
     "retry_failed", "dir", "job_ids": [...], "runs": {run_id: job ref},
     "groups": [{"job_id", "group", "run_ids", "log"}],     # submitit only
     "adaptive_round", "chain"}                              # adaptive slurm-array only

A job ref is ``"123"`` or ``"123_4"`` (array task). ``status`` reads these lines to ask
Slurm about runs that have not reported yet.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

from ..ledger.lockfile import append_line
from .options import SubmitOptions

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


def chain_runs(generated: Path, chain: str) -> set[str]:
    """Run ids the submissions of one chain of adaptive rounds have submitted."""
    return {rid for entry in read_submissions(generated) if entry.get("chain") == chain
            for rid in entry["runs"]}


@contextlib.contextmanager
def locked_selection(opts: "SubmitOptions"):
    """(workspace, records) for a submission under the study lock, held while the
    submission is decided and written (``wait``: wait for another orchestrator instead of
    exit 2). The workspace's plan is filtered; an experiment's folder is pinned/claimed."""
    from ..ledger import Ledger
    from ..ledger.studylock import study_lock
    from ..workspace import open_workspace

    ws = open_workspace(opts.study, opts.repo_root, filters=opts.filters,
                        workspace=opts.workspace, extra_overrides=opts.extra_overrides)
    study = ws.study
    with study_lock(study.workspace, study=f"study {study.study_id}", wait=opts.wait):
        # read under the lock: what another orchestrator finished while this one waited counts
        yield ws, Ledger(study.generated).all()


def nothing_to_submit(ws) -> int:
    print("No runs to submit.")
    ws.release()
    return 0


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
