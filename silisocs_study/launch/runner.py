"""``silisocs-sweep run``: plan, show what will happen, then one Hydra multirun per app.

Each multirun is a subprocess (``python -m <runner> --multirun hydra/sweeper=study ...``), so
a job that kills its process (os._exit under the basic launcher) cannot take the orchestrator
down: the runner marks that run failed and starts the multirun again for the runs not yet
attempted in this session. Progress is read from the record files, not from stdout.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

from .. import overrides as ov
from .. import COMMAND
from ..errors import StudyError
from .scope import run_key
from .sweep import CRASH_MARK



def run_study(args: argparse.Namespace) -> int:
    from ..cli import load_plan, python_for_runs
    from ..jobs import job_document
    from ..ledger import Ledger
    from ..ledger.recorder import record_reuse
    from .decide import decide

    plan = load_plan(args)
    if plan.study.kind == "experiment":  # claim the {seq} folder (or pin --workspace)
        from ..report.experiment import pin_workspace

        plan = pin_workspace(args, plan)
    elif getattr(args, "workspace", None):
        raise StudyError("--workspace pins an experiment folder; a study.yaml's workspace "
                         "is its own directory")
    study = plan.study
    args.loaded_study = study  # for the Python API (silisocs_study.run)
    python = python_for_runs()
    ledger = Ledger(study.generated)
    known = ledger.all()
    decisions = decide(plan.runs, known, force=args.force,
                       retry_failed=args.retry_failed, stale=args.stale)
    s = decisions.summary()
    print(f"Study {study.study_id}: {len(plan.runs)} run(s) selected"
          f"{'' if not plan.filters else f' of {plan.total}'} — new {s['new']}, "
          f"retry {s['retry']}, stale {s['stale']}, forced {s['forced']}, "
          f"skip (complete) {s['skip']}, failed left {s['failed_left']}, reuse {s['reuse']}")
    if decisions.left_failed:
        print(f"  {len(decisions.left_failed)} failed run(s) are not retried "
              f"(use --retry-failed)")
    if study.kind == "experiment":
        from ..report.experiment import write_spec_copy

        write_spec_copy(study, plan)
    if args.dry_run:
        from ..bashgen import write_script
        from ..plan import write_plan_json

        write_plan_json(plan, study.generated / "plan.json", python)
        write_script(plan, study.generated / "run_study.sh", python)
        print(f"Dry run: wrote {study.generated / 'plan.json'} and "
              f"{study.generated / 'run_study.sh'}")
        return 0
    launch = decisions.launch
    if len(launch) > 50 and not args.yes and sys.stdin.isatty():
        answer = input(f"Launch {len(launch)} run(s) with the {args.launcher} launcher? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing launched.")
            if study.kind == "experiment":
                from ..report.experiment import SPEC_COPY, release_workspace

                (study.workspace / SPEC_COPY).unlink(missing_ok=True)
                release_workspace(args)
            return 2
    session = uuid.uuid4().hex[:12]
    for run in decisions.reuse:
        record_reuse(job_document(study, run, python, session=session))
    units: dict[tuple, list] = {}
    for run in launch:
        units.setdefault(run_key(run), []).append(run)
    started = time.time()
    unrun: list[str] = []
    for (module, config_path), runs in units.items():
        unrun += _run_unit(args, plan, module, config_path, runs, session, python)
    from .sweep import rebuild_study_views

    records = rebuild_study_views(str(study.file), plan=plan, only_if_changed=True)
    changed = records is not None
    if records is None:   # no record (and not the study) changed since the last rebuild
        from ..ledger.views import mark_stale, sorted_records
        from ..plan import build_plan

        records = sorted_records(known)   # what the rebuild would have returned
        full = plan if not plan.filters else build_plan(study)
        mark_stale(records, {r.run_id: r.fingerprint for r in full.runs})
    rc = _report(plan, records, session, time.time() - started, unrun)
    if study.kind == "study" and records and (
            changed or not (study.generated / "reports" / "summary.md").exists()):
        _write_study_reports(study, records)
    if study.kind == "experiment":  # results.yaml, then post_actions (after the last run)
        from ..report.experiment import finish_experiment

        rc = max(rc, finish_experiment(plan, records))
    return rc


def _write_study_reports(study, records: list[dict]) -> None:
    """A run ends with an answer: summary.md, comparison.png and the workbook."""
    try:
        from ..report.reports import write_reports

        paths = write_reports(study, records=records)
    except StudyError as exc:
        print(f"Report not written: {exc.message}")
        return
    except Exception as exc:  # noqa: BLE001 - a broken report must not hide the runs
        print(f"warning: report not written ({type(exc).__name__}: {exc}); "
              f"`{COMMAND} --study {study.display_file} report` retries", file=sys.stderr)
        return
    print(f"Report: {paths['summary']}, {paths['plot']}, {paths['workbook']}")


def _sweeper_args(args, plan, session: str) -> list[str]:
    study = plan.study
    out = ["hydra/sweeper=study",
           ov.format_override("hydra.sweeper.study", str(study.file)),
           ov.format_override("hydra.sweeper.repo_root", str(study.repo_root)),
           ov.format_override("hydra.sweeper.session", session),
           ov.format_override("hydra.sweeper.workspace", str(study.workspace)),
           ov.format_override("hydra.sweeper.stale", args.stale),
           ov.format_override("hydra.sweep.dir", str(study.generated / "hydra" / session))]
    f = plan.filters
    for key, values in (("only_hypothesis", f.hypotheses), ("only_condition", f.conditions),
                        ("only_sub_experiment", f.sub_experiments),
                        ("only_seed", [str(v) for v in f.seeds]), ("only_run_id", f.run_ids)):
        if values:
            out.append(ov.format_override(f"hydra.sweeper.{key}", sorted(values)))
    for flag, key in ((args.force, "force"), (args.retry_failed, "retry_failed"),
                      (args.fail_fast, "fail_fast")):
        if flag:
            out.append(f"hydra.sweeper.{key}=true")
    if args.max_retries:
        out.append(f"hydra.sweeper.max_retries={int(args.max_retries)}")
    if args.timeout_seconds:
        out.append(f"hydra.sweeper.timeout_seconds={float(args.timeout_seconds)}")
    return out


def _launcher_args(args, plan, session: str) -> list[str]:
    n = args.max_concurrent
    batch = args.batch_size
    out = []
    if args.launcher == "basic":
        out.append("hydra/launcher=basic")
    elif args.launcher == "joblib":
        out += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n or 2}"]
    else:
        folder = plan.study.generated / "submitit" / session
        out += [f"hydra/launcher={args.launcher}",
                ov.format_override("hydra.launcher.submitit_folder", str(folder) + "/%j")]
        if args.timeout_seconds:
            minutes = max(1, int((args.timeout_seconds + 59) // 60) + 1)
            out.append(f"hydra.launcher.timeout_min={minutes}")
        if args.launcher == "submitit_local":
            batch = batch or n or 4   # submitit_local has no concurrency cap of its own
        elif n:
            out.append(f"hydra.launcher.array_parallelism={n}")
    if batch:
        out.append(f"hydra.sweeper.max_batch_size={int(batch)}")
    return out


def _run_unit(args, plan, module: str, config_path: str | None, runs: list, session: str,
              python: str) -> list[str]:
    """Run one multirun, restarting it after a hard crash until every run has a record.
    Returns the runs it could not get run (none when all went through)."""
    from ..ledger import Ledger

    ledger = Ledger(plan.study.generated)
    ids = {r.run_id for r in runs}
    cmd = [python, "-m", module]
    if config_path:
        cmd += ["--config-path", config_path]
    cmd += ["--multirun", *_sweeper_args(args, plan, session),
            *_launcher_args(args, plan, session), *args.hydra_overrides]
    log_dir = plan.study.generated / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    pending_before = set(ids)
    pending = pending_before
    for attempt in range(1, len(runs) + 2):
        log_path = log_dir / f"run_{session}_{module.replace('.', '_')}_{attempt}.log"
        print(f"Launching {len(pending)} run(s): {module}"
              f"{f' --config-path {config_path}' if config_path else ''} "
              f"[{args.launcher}] (log: {log_path})")
        rc = _watch(cmd, cwd=str(plan.study.repo_root), log_path=log_path, ledger=ledger,
                    ids=ids, session=session, plain=args.no_progress)
        if rc == 2:
            tail = _tail_text(log_path)
            raise StudyError(f"the multirun rejected its input (exit 2): {tail}")
        pending = {i for i in ids if not _attempted(ledger.read(i), session)}
        if rc not in (0, 1):
            crashed = _mark_crashed(ledger, ids, session, rc)
            print(f"  the multirun process ended with exit code {rc}; {len(crashed)} run(s) "
                  f"recorded as failed; {len(pending)} not yet attempted")
        if not pending or (rc in (0, 1) and args.fail_fast):
            return []
        if pending == ids:   # e.g. no such runner module, or the app failed at start-up
            raise StudyError(f"the multirun exited with code {rc} before running any run; "
                             f"see {log_path}: {_tail_text(log_path)}")
        if rc in (0, 1) or pending == pending_before:
            break   # it ended without running these: report them, don't loop
        pending_before = pending
    print(f"  {len(pending)} run(s) were not run by the multirun; see {log_path}")
    return sorted(pending)


def _attempted(rec: dict | None, session: str) -> bool:
    return rec is not None and rec.get("session") == session


def _mark_crashed(ledger, ids, session: str, rc: int) -> list[str]:
    from ..ledger.recorder import record_finish

    out = []
    for run_id in ids:
        rec = ledger.read(run_id)
        if rec and rec.get("session") == session and rec.get("status") == "running":
            job_path = Path(ledger.generated) / "jobs" / f"{run_id}.json"
            from ..jobs import read_job

            job = read_job(job_path)
            record_finish(job, rec, status="failed", evaluate=False, exit_code=rc,
                          error=f"{CRASH_MARK} (the multirun process died with exit code {rc})")
            out.append(run_id)
    return out


def _watch(cmd, *, cwd: str, log_path: Path, ledger, ids: set, session: str,
           plain: bool) -> int:
    """Run the multirun with output to a log; show progress from the records meanwhile."""
    from .progress import Progress

    from .sweep import DEFER_VIEWS_ENV

    env = dict(os.environ)
    env.setdefault("HYDRA_FULL_ERROR", "1")
    env[DEFER_VIEWS_ENV] = session   # run_study rebuilds the views once at the end
    with open(log_path, "wb") as log:
        log.write(("$ " + shlex.join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        progress = Progress(ledger, ids, session, plain=plain or not sys.stdout.isatty())
        try:
            while proc.poll() is None:
                progress.update()
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        finally:
            progress.update()
            progress.close()
    return proc.returncode


def _tail_text(path: Path) -> str:
    from ..evaluate import tail

    lines = [line for line in tail(path, 20) if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1] if errors else (lines[-1] if lines else "")).strip()


def _report(plan, records: list[dict], session: str, elapsed: float,
            unrun: list[str] = ()) -> int:
    mine = [r for r in records if r.get("session") == session]
    by_status: dict[str, int] = {}
    for r in mine:
        by_status[r.get("status")] = by_status.get(r.get("status"), 0) + 1
    failed = [r for r in mine if r.get("status") in ("failed", "timeout", "running")]
    eval_failed = [r for r in mine if any(e.get("status") == "failed"
                                          for e in r.get("evaluations") or [])]
    print(f"Done in {elapsed:.1f}s: " + (", ".join(f"{k} {v}" for k, v in sorted(
        by_status.items())) or "nothing to run"))
    for r in failed[:20]:
        print(f"  [{r.get('status')}] {r['run_id']}: {r.get('error')}  log: {r.get('log_path')}")
    for r in eval_failed[:20]:
        bad = [e['id'] for e in r.get('evaluations') or [] if e.get('status') == 'failed']
        print(f"  [evaluator failed] {r['run_id']}: {', '.join(bad)}")
    if unrun:
        print(f"  not run: {len(unrun)} run(s): {', '.join(unrun[:5])}"
              f"{' ...' if len(unrun) > 5 else ''}")
    gen = plan.study.generated
    print(f"Views: {gen / 'repro_lock.json'}, {gen / 'study_index.json'}")
    return 1 if failed or eval_failed or unrun else 0
