"""What runs inside a Slurm job.

* :func:`run_group` — the callable ``submitit`` pickles (by reference: it lives in this
  importable module): the hooks around ``python -m silisocs_study ... run`` for one group.
* :func:`run_array_task` — ``python -m silisocs_study task --submission DIR --index I``
  (the array template's last step): reads *its* rows of the submission's plan.json and
  runs exactly those runs through the normal path (decide → reuse → the study sweeper in
  a multirun per app); it never loads or expands the study.
* :func:`finalize` — ``task --submission DIR --finalize`` (a job that waits for the array):
  reconciles with Slurm once and rebuilds the study's views from all records; for a round
  of an adaptive study, then submits the next round (:mod:`silisocs_study.hpc.chain`).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .hooks import Hooks, HookError, run_with_hooks

TASKS_FILE = "tasks.json"
PLAN_FILE = "plan.json"


def _rank() -> int:
    for var in ("SUBMITIT_GLOBAL_RANK", "SLURM_PROCID"):
        value = os.environ.get(var)
        if value and value.isdigit():
            return int(value)
    return 0


def run_group(spec: dict[str, Any]) -> dict[str, Any]:
    """submitit job: hooks + the group's study command (rank 0 only); raises on failure."""
    if _rank() != 0:
        return {"group": spec.get("group"), "skipped": "not rank 0"}
    started = time.time()
    rc = run_with_hooks(spec["cmd"], cwd=spec.get("cwd"), hooks=Hooks.from_json(
        spec.get("hooks")))
    result = {"group": spec.get("group"), "exit_code": rc,
              "seconds": round(time.time() - started, 3)}
    if rc != 0:
        raise RuntimeError(f"study command for {spec.get('group')} exited with code {rc}")
    return result


# -- array tasks --------------------------------------------------------------------------

def load_tasks(submission: Path) -> dict:
    from ..errors import StudyError

    try:
        return json.loads((submission / TASKS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"{submission}: not a slurm-array submission (no {TASKS_FILE})") \
            from None


def task_plan(submission: Path, meta: dict, index: int):
    """(head, rows, Plan) of task ``index``: only its rows are read."""
    from ..planfile import plan_from_json, read_rows

    entry = meta["tasks"][index]
    plan_path = submission / meta.get("plan", PLAN_FILE)
    head, rows = read_rows(plan_path, meta["head_len"], entry["rows"])
    if [r.get("run_id") for r in rows] != entry["run_ids"]:  # plan.json was rewritten?
        from ..planfile import load_plan_json

        doc = load_plan_json(plan_path)
        by_id = {r["run_id"]: r for r in doc["runs"]}
        rows = [by_id[i] for i in entry["run_ids"] if i in by_id]
        head = doc
    return head, rows, plan_from_json(head, rows)


def run_array_task(submission: Path, index: int) -> int:
    from ..launch.multirun import session_args
    from ..launch.session import prepare
    from ..overrides import format_override
    from ..plan import Plan
    from ..status import is_complete
    from ..planfile import write_slice

    submission = submission.resolve()
    meta = load_tasks(submission)
    if not 0 <= index < len(meta["tasks"]):
        print(f"task {index}: out of range (this submission has {len(meta['tasks'])} "
              f"task(s)); nothing to do")
        return 0
    head, rows, plan = task_plan(submission, meta, index)
    study = plan.study
    settings = meta.get("settings") or {}
    stale = settings.get("stale") or "rerun"
    session = prepare(plan, retry_failed=bool(settings.get("retry_failed")), stale=stale,
                      adopt=False, whole_ledger=False)
    print(f"task {index} of {meta.get('submission')}: " + session.summary_line().split(
        ": ", 1)[1], flush=True)
    session.record_reuse()
    launch = session.decisions.launch
    if launch:
        ids = frozenset(r.run_id for r in launch)
        slice_path = submission / "tasks" / f"{index}.json"
        write_slice(head, [r for r in rows if r["run_id"] in ids], slice_path)
        sweep_plan = Plan(study, launch, plan.total)
        # the task is already queued: composing each job once more before launching it
        # (the sweeper's validation) would only repeat the job's own compose error
        hydra_args = session_args(sweep_plan, session.id, stale=stale,
                                  retry_failed=bool(settings.get("retry_failed")),
                                  max_retries=int(settings.get("max_retries") or 0),
                                  timeout_seconds=settings.get("timeout_seconds")) + [
            "hydra/launcher=basic", "hydra.sweeper.validate=false",
            format_override("hydra.sweeper.plan_file", str(slice_path))]
        round_file = (meta.get("adaptive") or {}).get("round_file")
        if round_file:   # a round of an adaptive study: the job files carry its number
            hydra_args.append(format_override("hydra.sweeper.round_file", round_file))
        session.launch_apps(launch, hydra_args, list(settings.get("hydra_overrides") or []),
                            cwd=str(study.repo_root), progress=False)
    bad = []
    for run in plan.runs:
        rec = session.ledger.read(run.run_id)
        if not is_complete(rec):
            bad.append(f"{run.run_id}: {(rec or {}).get('status') or 'no record'}")
    print(f"task {index}: {len(plan.runs) - len(bad)} ok, {len(bad)} not ok"
          + "".join(f"\n  {b}" for b in bad[:20]), flush=True)
    return 1 if bad else 0


def finalize(submission: Path) -> int:
    """After the array: reconcile with Slurm (once) and rebuild the study's views; a round
    of an adaptive study then goes on with the next round, or ends with the reports."""
    from ..ledger import Ledger
    from ..views import refresh
    from ..workspace import Workspace, open_plan
    from .reconcile import reconcile

    submission = submission.resolve()
    meta = load_tasks(submission)
    study_info = meta["study"]
    plan = open_plan(study_info["ref"], study_info["repo_root"],
                     workspace=study_info.get("workspace") if study_info.get("kind") ==
                     "experiment" else None)
    study = plan.study
    for _ in range(10):  # sacct lags the end of the tasks by a few seconds
        result = reconcile(study, Ledger(study.generated).all(), write=True)
        if result is None or not _own_unknown(result, meta):
            break
        time.sleep(2)
    views = refresh(plan)
    records = views.records
    print(f"views rebuilt from {len(records)} record(s): {study.generated}", flush=True)
    if meta.get("adaptive") and study.adaptive:
        from .chain import after_round

        return after_round(meta, plan, views)
    return Workspace(plan).finish(records)


def _own_unknown(result, meta: dict) -> bool:
    """True while some run of this submission is neither final nor known to Slurm."""
    mine = {rid for t in meta["tasks"] for rid in t["run_ids"]}
    for rid in mine:
        rec = result.records.get(rid)
        if rec is None or rec.get("status") == "running":
            return True
    return False


def run_task(submission: Path, *, index: int | None, offset: int = 0,
             finalize_only: bool = False) -> int:
    """What ``task`` runs in an array job: its index (default ``$SLURM_ARRAY_TASK_ID`` +
    ``offset``), or the finalize step."""
    if finalize_only:
        return finalize(submission)
    if index is None:
        index_text = os.environ.get("SLURM_ARRAY_TASK_ID")
        if index_text is None:
            from ..errors import StudyError

            raise StudyError("task: give --index N (or run inside a Slurm array task)")
        index = int(index_text) + int(offset or 0)
    try:
        return run_array_task(submission, int(index))
    except HookError as exc:  # pragma: no cover - hooks run in the template for arrays
        print(f"error: {exc}", file=sys.stderr)
        return 1
