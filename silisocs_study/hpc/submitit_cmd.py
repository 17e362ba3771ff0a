"""``silisocs-sweep submitit``: one Slurm job per group, submitted with submitit; returns.

Each job runs, between the hooks (:mod:`silisocs_study.hpc.hooks`)::

    python -m silisocs_study --study <abs> --repo-root <abs> run --yes --no-progress
        <group filters AND every user filter> [--retry-failed] [--timeout-seconds S] [-- ...]

The jobs are one submitit batch (a Slurm array, throttled by ``--max-concurrent``); the
callable is :func:`silisocs_study.hpc.task.run_group` (importable, so cloudpickle pickles it
by reference). Job ids go to stdout and to ``<generated>/slurm/submissions.jsonl``.

Adaptive studies are refused (exit 2): their rounds are submitted one at a time by
``slurm-array --submit``, whose finalize job submits each next round.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from ..constants import COMMAND
from ..errors import StudyError
from ..ledger.records import utc_now
from .groups import make_tasks
from .options import SubmitOptions
from .selection import runs_to_do
from .submission import (append_submission, describe, locked_selection, new_submission_id,
                         nothing_to_submit, study_ref)

SHOW = 10
ADAPTIVE_REFUSED = ("submitit: this study is adaptive (it runs its seeds in rounds); submit it "
                    "with `slurm-array --submit`, whose finalize job submits each next round")


def job_command(study, filters, args: SubmitOptions, python: str) -> list[str]:
    from ..ledger.studylock import HELD_ENV

    # the jobs of one submission run side by side, each a `run` of its group: they share the
    # submission's claim on the study (runs are kept apart by their leases)
    held = f"{HELD_ENV}={Path(study.workspace).resolve()}"
    cmd = ["env", held, python, "-m", "silisocs_study", "--study", study_ref(study),
           "--repo-root", str(study.repo_root), "run", "--yes", "--no-progress"]
    if study.kind == "experiment":
        cmd += ["--workspace", str(study.workspace)]
    if args.retry_failed:
        cmd.append("--retry-failed")
    if args.stale != "rerun":
        cmd += ["--stale", args.stale]
    if args.timeout_seconds:
        cmd += ["--timeout-seconds", f"{args.timeout_seconds:g}"]
    cmd += filters.as_args()
    if args.extra_overrides:
        cmd += ["--", *args.extra_overrides]
    return cmd


def submit_groups(args: SubmitOptions) -> int:
    """Submit one Slurm job per group (submitit); returns after submitting."""
    hooks = args.hooks
    resources = args.resources
    if not args.dry_run:
        from .slurm import have_slurm

        if not have_slurm():
            raise StudyError("sbatch not found: submitit needs a Slurm cluster (use --dry-run "
                             "to see the jobs, or `run --launcher submitit_local`)")
    with locked_selection(args) as (ws, records):   # one orchestrator per study
        plan = ws.plan
        study = plan.study
        if study.adaptive:
            ws.release()
            raise StudyError(ADAPTIVE_REFUSED)
        resources.job_name = resources.job_name or f"silisocs-{study.study_id}"[:64]
        todo, decisions, queued = runs_to_do(plan, records, retry_failed=args.retry_failed,
                                             stale=args.stale, write=not args.dry_run)
        print(describe(plan, decisions, todo, queued))
        if not todo:
            return nothing_to_submit(ws)
        tasks = make_tasks(todo, args.array_mode, plan.filters)
        python = sys.executable
        specs = [{"group": t.label, "run_ids": t.run_ids, "cwd": str(study.repo_root),
                  "cmd": job_command(study, t.filters, args, python), "hooks": hooks.to_json()}
                 for t in tasks]
        print(f"Array mode {args.array_mode}: {len(specs)} job(s) for {len(todo)} run(s)")
        for spec in specs[:SHOW]:
            print(f"  [{spec['group']}] {shlex.join(spec['cmd'])}")
        if len(specs) > SHOW:
            print(f"  ... and {len(specs) - SHOW} more")
        if args.dry_run:
            print("Dry run: nothing submitted.")
            ws.release()
            return 0
        ws.write_spec_copy()
        folder = Path(args.folder).expanduser().resolve() if args.folder else \
            study.generated / "submitit"
        sub_id = new_submission_id()
        jobs = _submit(folder, specs, resources, args.max_concurrent)
        runs: dict[str, str] = {}
        groups: list[dict[str, Any]] = []
        for spec, job in zip(specs, jobs, strict=True):
            job_id = str(job.job_id)
            for run_id in spec["run_ids"]:
                runs[run_id] = job_id
            groups.append({"job_id": job_id, "group": spec["group"], "run_ids": spec["run_ids"],
                           "log": str(job.paths.stderr)})
        append_submission(study.generated, {
            "schema_version": 1, "id": sub_id, "kind": "submitit", "submitted_at": utc_now(),
            "study": study_ref(study), "array_mode": args.array_mode,
            "retry_failed": bool(args.retry_failed), "dir": str(folder),
            "job_ids": [g["job_id"] for g in groups], "groups": groups, "runs": runs})
        print(f"Submitted {len(jobs)} job(s): " + ", ".join(g["job_id"] for g in groups[:20])
              + (" ..." if len(groups) > 20 else ""))
        print(f"Follow with: {COMMAND} --study {shlex.quote(study_ref(study))} status")
        return 0


def _submit(folder: Path, specs: list[dict], resources, max_concurrent: int | None) -> list:
    try:
        import submitit
    except ImportError:  # pragma: no cover - a dependency
        raise StudyError("submitit is not installed (pip install submitit)") from None
    from .slurm import cancel, max_array_size
    from .task import run_group

    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster="slurm")
    params = resources.submitit_params()
    if max_concurrent:
        params["slurm_array_parallelism"] = int(max_concurrent)
    try:
        executor.update_parameters(**params)
    except ValueError as exc:
        raise StudyError(f"submitit rejected the job parameters: "
                         f"{str(exc).splitlines()[0]}") from None
    jobs: list = []
    size = max_array_size()
    try:
        for start in range(0, len(specs), size):
            with executor.batch():
                chunk = [executor.submit(run_group, spec) for spec in specs[start:start + size]]
            jobs += chunk
    except Exception as exc:  # sbatch refused (partition, account, memory...)
        cancel(str(j.job_id) for j in jobs)
        text = " ".join(str(exc).split())[:400]
        raise StudyError(f"submission failed: {text}") from None
    return jobs
