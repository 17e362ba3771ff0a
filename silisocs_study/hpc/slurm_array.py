"""``silisocs-sweep slurm-array``: the runs still to do as one Slurm job array.

The plan is written once (``<generated>/slurm/<id>/plan.json``, only the runs to do) with
``tasks.json`` (task index → run ids and the byte ranges of their plan rows). Each task
runs ``python -m silisocs_study task --submission DIR --index I`` from the template, which
reads only its rows; a task of one run starts the app directly instead (``direct``). Values reach the template through ``env.sh`` (``export K=<quoted>``),
sourced by the script, so commas, spaces and quotes survive; ``--export=ALL`` keeps the
submitting environment (PATH, venv). Arrays larger than MaxArraySize become several
sbatch submissions with an index offset (the template's second argument). A last small
job (``--dependency=afterany``) reconciles with Slurm and rebuilds the study's views.

An adaptive study (``adaptive:``) is submitted one round at a time: the array holds the
next round's runs still to do (their job files and records carry ``adaptive_round``), and
with ``--submit`` its finalize job computes the round after from the records and submits
it the same way (a new line in submissions.jsonl, its own finalize job), until a round has
nothing to do; then it writes the reports and prints the adaptive summary
(:mod:`silisocs_study.hpc.chain`). Without ``--submit`` the files cover one round.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_write_bytes, atomic_write_text
from ..constants import COMMAND
from ..errors import StudyError
from ..ledger.records import utc_now
from .direct import write_direct_tasks
from .groups import make_tasks
from .options import SubmitOptions
from ..planfile import row_ranges
from .selection import Selection, select
from .submission import (append_submission, chain_runs, describe, locked_selection,
                         new_submission_id, nothing_to_submit, slurm_dir, study_ref,
                         write_env_file)

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "slurm_scripts" / \
    "study-array-template.sh"


def default_base_script() -> Path:
    """slurm_scripts/study-array-template.sh of the repo (or checkout) this runs from."""
    local = Path("slurm_scripts") / "study-array-template.sh"
    return local.resolve() if local.is_file() else DEFAULT_TEMPLATE


@dataclass
class Submitted:
    """What one ``slurm-array`` call did: its exit code, the array job ids it submitted
    (none: files only, or nothing to do), and the selection it made."""
    rc: int = 0
    job_ids: list[str] = field(default_factory=list)
    selection: Selection | None = None


def submit_array(args: SubmitOptions) -> int:
    """Write (and with ``submit``, submit) the runs still to do as a Slurm job array (an
    adaptive study: the next round's)."""
    return submit_round(args).rc


def submit_round(args: SubmitOptions, *, chain: str | None = None) -> Submitted:
    """:func:`submit_array`; ``chain``: the chain of rounds an adaptive study's finalize job
    continues (its runs already submitted are never submitted again)."""
    from ..plan import Plan
    from ..planfile import write_plan_json
    from ..spec.study_v1 import python_executable

    hooks = args.hooks
    base = Path(args.base_script).expanduser() if args.base_script else default_base_script()
    if not base.is_file():
        raise StudyError(f"--base-script {base}: no such file")
    runner_python = args.runner_python or sys.executable
    resources = args.resources
    if args.submit:
        from .slurm import have_slurm

        if not have_slurm():
            raise StudyError("sbatch not found: --submit needs a Slurm cluster (without "
                             "--submit the files and the sbatch command are written)")
    with locked_selection(args) as (ws, records):   # one orchestrator per study
        plan = ws.plan
        study = plan.study
        resources.job_name = resources.job_name or f"silisocs-{study.study_id}"[:64]
        sel = select(plan, records, retry_failed=args.retry_failed, stale=args.stale,
                     attempted=chain_runs(study.generated, chain) if chain else ())
        todo, decisions, queued, rnd = sel.todo, sel.decisions, sel.queued, sel.round
        if rnd is not None:
            print(f"Adaptive round {rnd.number}: {rnd.summary()}; this round needs "
                  f"{len(rnd.runs)} of {len(plan.runs)} run(s)")
        print(describe(Plan(study, rnd.runs, plan.total, plan.filters) if rnd else plan,
                       decisions, todo, queued))
        if sel.attempted:
            print(f"  {len(sel.attempted)} run(s) already submitted by an earlier round of "
                  f"this chain (not submitted again)")
        if not todo:
            return Submitted(nothing_to_submit(ws), selection=sel)
        selected = Plan(study, todo, plan.total, plan.filters)
        if args.check_config:   # one-run tasks start the app with the exact overrides
            from ..launch.multirun import check_plan

            notes: list[str] = []
            print(check_plan(selected, runner_python, list(args.extra_overrides),
                             warnings=notes))
            for note in notes:
                print(f"warning: {note}", file=sys.stderr)
        ws.write_spec_copy()
        tasks = make_tasks(todo, args.array_mode, plan.filters, args.runs_per_task or 1)
        sub_id = new_submission_id()
        folder = slurm_dir(study.generated) / sub_id
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        adaptive = None
        if rnd is not None:
            from ..launch.rounds import write_round_file

            # what the finalize job needs to submit the next round the same way
            again = args.to_json()
            again.update(study=study_ref(study), repo_root=str(study.repo_root),
                         workspace=str(study.workspace) if study.kind == "experiment" else None,
                         base_script=str(base.resolve()), runner_python=runner_python,
                         submit=True)
            adaptive = {"round": rnd.number,
                        "round_file": write_round_file(study.generated, sub_id, rnd, todo),
                        # a chain of rounds: the first submission's id (files only: none)
                        "chain": (chain or sub_id) if args.submit else None,
                        "options": again if args.submit else None}
        plan_path = folder / "plan.json"
        write_plan_json(selected, plan_path, python_executable())
        head_len, ranges = row_ranges(plan_path.read_bytes())
        row_of = {run.run_id: ranges[i] for i, run in enumerate(todo)}
        meta = {
            "schema_version": 1, "submission": sub_id, "created_at": utc_now(),
            "plan": "plan.json", "head_len": head_len, "array_mode": args.array_mode,
            "study": {"ref": study_ref(study), "file": str(study.file),
                      "repo_root": str(study.repo_root), "workspace": str(study.workspace),
                      "kind": study.kind},
            "settings": {"retry_failed": bool(args.retry_failed), "stale": args.stale,
                         "timeout_seconds": args.timeout_seconds,
                         "hydra_overrides": list(args.extra_overrides)},
            "tasks": [{"label": t.label, "run_ids": t.run_ids,
                       "rows": [list(row_of[i]) for i in t.run_ids]} for t in tasks],
        }
        if adaptive is not None:
            meta["adaptive"] = adaptive
        atomic_write_bytes(folder / "tasks.json", json.dumps(meta, ensure_ascii=False).encode())
        extra = list(args.extra_overrides)
        if not any("sweeper" in o for o in extra):  # sweeper settings need the multirun path
            write_direct_tasks(folder, study, tasks, runner_python, session=sub_id,
                               timeout_seconds=args.timeout_seconds, extra=extra,
                               adaptive_round=rnd.number if rnd is not None else None)
        write_env_file(folder / "env.sh", {
            "SILISOCS_SUBMISSION_DIR": str(folder), "SILISOCS_REPO_ROOT": str(study.repo_root),
            "SILISOCS_RUNNER_PYTHON": runner_python, "SILISOCS_N_TASKS": str(len(tasks)),
            "SILISOCS_STUDY_FILE": study_ref(study), "SILISOCS_ARRAY_MODE": args.array_mode,
            # the template sources this (not found through its own path: Slurm spools it)
            "SILISOCS_HOOKS_SH": str((base.parent / "hooks.sh").resolve()
                                     if (base.parent / "hooks.sh").is_file()
                                     else DEFAULT_TEMPLATE.with_name("hooks.sh")),
            **hooks.env()})
        commands = _sbatch_commands(folder, base, len(tasks), args.max_concurrent, resources,
                                    runner_python)
        script = "#!/usr/bin/env bash\n# sbatch command(s) of submission " + sub_id + \
            " (the finalize job waits for all array jobs: replace JOBIDS)\nset -euo pipefail\n" + \
            "".join(shlex.join(c) + "\n" for c in commands["arrays"]) + \
            shlex.join(commands["finalize"]) + "\n"
        atomic_write_text(folder / "sbatch.sh", script, mode=0o755)
        packed = f", {args.runs_per_task} run(s) per task" \
            if (args.runs_per_task or 1) > 1 else ""
        print(f"Array mode {args.array_mode}: {len(tasks)} task(s) for {len(todo)} run(s)"
              f"{packed}; {len(commands['arrays'])} sbatch submission(s)")
        print(f"Submission: {folder}")
        for c in commands["arrays"]:
            print("  " + shlex.join(c))
        if not args.submit:
            if rnd is not None:
                print(f"Adaptive study: this array covers one round (round {rnd.number}, "
                      f"{len(todo)} run(s)); after it ends, run slurm-array again for the "
                      f"next round (with --submit, each round's finalize job submits the "
                      f"next one itself)")
            print(f"Not submitted (add --submit). Commands written to {folder / 'sbatch.sh'}")
            return Submitted(0, selection=sel)
        from .slurm import cancel, sbatch

        job_ids: list[str] = []
        try:
            for c in commands["arrays"]:
                job_ids.append(sbatch(c[2:]))  # drop "sbatch --parsable"
        except StudyError:
            cancel(job_ids)  # all or nothing: a half-submitted array would confuse resume
            shutil.rmtree(folder, ignore_errors=True)
            raise
        fin = list(commands["finalize"])
        fin[fin.index("--dependency=afterany:JOBIDS")] = "--dependency=afterany:" + \
            ":".join(job_ids)
        finalize_id = None
        try:
            finalize_id = sbatch(fin[2:])
        except StudyError as exc:
            print(f"warning: the finalize job was not submitted ({exc.message}); run "
                  f"`{COMMAND} status` / `organize` later to rebuild the views"
                  + ("; no later round is submitted by itself: run slurm-array --submit "
                     "again once this round has ended" if rnd is not None else ""),
                  file=sys.stderr)
        runs: dict[str, str] = {}
        m = _chunk_size(len(tasks))
        for t in tasks:
            ref = f"{job_ids[t.index // m]}_{t.index % m}"
            for run in t.runs:
                runs[run.run_id] = ref
        entry = {
            "schema_version": 1, "id": sub_id, "kind": "slurm-array", "submitted_at": utc_now(),
            "study": study_ref(study), "array_mode": args.array_mode,
            "retry_failed": bool(args.retry_failed), "dir": str(folder), "job_ids": job_ids,
            "finalize_job_id": finalize_id, "n_tasks": len(tasks),
            "chunk": m, "log_pattern": str(folder / "logs" / "%A_%a.out"), "runs": runs}
        if adaptive is not None:
            entry.update(adaptive_round=adaptive["round"], chain=adaptive["chain"])
        append_submission(study.generated, entry)
        print("Submitted array job(s): " + ", ".join(job_ids)
              + (f"; views job {finalize_id} (afterany)" if finalize_id else ""))
        if rnd is not None:
            print(f"Adaptive round {rnd.number} submitted ({len(todo)} run(s))"
                  + (f"; when it ends, the finalize job {finalize_id} submits the next round "
                     f"the same way, until every arm has stopped (scancel it to stop there)"
                     if finalize_id else ""))
        return Submitted(0, job_ids, sel)


def _chunk_size(n_tasks: int) -> int:
    from .slurm import max_array_size

    return max(1, min(n_tasks, max_array_size()))


def _sbatch_commands(folder: Path, base: Path, n_tasks: int, max_concurrent: int | None,
                     resources, runner_python: str) -> dict:
    m = _chunk_size(n_tasks)
    common = ["--export=ALL", f"--output={folder / 'logs' / '%A_%a.out'}",
              *resources.sbatch_args()]
    arrays = []
    for offset in range(0, n_tasks, m):
        count = min(m, n_tasks - offset)
        spec = f"0-{count - 1}" + (f"%{max_concurrent}" if max_concurrent else "")
        arrays.append(["sbatch", "--parsable", f"--array={spec}", *common, str(base),
                       str(folder), str(offset)])
    wrap = shlex.join([runner_python, "-m", "silisocs_study", "task", "--submission",
                       str(folder), "--finalize"])
    fin_res = [a for a in resources.sbatch_args() if a.split("=", 1)[0] in (
        "--partition", "--account", "--comment", "--constraint")]
    finalize = ["sbatch", "--parsable", "--dependency=afterany:JOBIDS", "--export=ALL",
                f"--job-name={(resources.job_name or 'silisocs')}-views", "--time=30",
                "--cpus-per-task=1", f"--output={folder / 'logs' / 'finalize_%j.out'}",
                f"--chdir={folder}", *fin_res, f"--wrap={wrap}"]
    return {"arrays": arrays, "finalize": finalize}
