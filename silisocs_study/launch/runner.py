"""``silisocs-sweep run``: plan, show what will happen, then one Hydra multirun per app.

Each multirun is a subprocess (``python -m <runner> --multirun hydra/sweeper=study ...``), so
a job that kills its process (os._exit under the basic launcher) cannot take the orchestrator
down: the runner marks that run failed and starts the multirun again for the runs not yet
attempted in this session. Progress is read from the record files, not from stdout.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid

from .. import COMMAND
from .. import overrides as ov
from ..errors import StorageError, StudyError
from ..plan import app_key



def run_study(args: argparse.Namespace) -> int:
    from ..cli import load_plan

    plan = load_plan(args)
    if plan.study.kind == "experiment":  # claim the {seq} folder (or pin --workspace)
        from ..report.experiment import pin_workspace

        plan = pin_workspace(args, plan)
    elif getattr(args, "workspace", None):
        raise StudyError("--workspace pins an experiment folder; a study.yaml's workspace "
                         "is its own directory")
    study = plan.study
    args.loaded_study = study  # for the Python API (silisocs_study.run)
    if args.dry_run:
        return _run(args, plan)
    from ..ledger.studylock import study_lock

    with study_lock(study.workspace, study=f"study {study.study_id}",
                    wait=getattr(args, "wait", False)):   # one orchestrator per study
        return _run(args, plan)


def _run(args: argparse.Namespace, plan) -> int:
    from ..cli import python_for_runs
    from ..ledger import Ledger
    from .decide import decide
    from .reuse import record_reuse_run

    study = plan.study
    python = python_for_runs()
    ledger = Ledger(study.generated)
    from ..ledger.adopt import adopt_external

    adopt_external(plan)   # runs silisocs' own study runner finished are complete runs here
    from .recover import recover_finished

    recover_finished(study, plan.runs, ledger, python)   # finished, then orchestrator died
    known = ledger.all()
    if (damaged := ledger.damaged_warning()):
        print(damaged, file=sys.stderr)
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
            if study.kind == "experiment" and getattr(args, "allocated_workspace", None):
                # a folder claimed just now is given back; a continued one keeps its files
                from ..report.experiment import SPEC_COPY, release_workspace

                (study.workspace / SPEC_COPY).unlink(missing_ok=True)
                release_workspace(args)
            return 2
    session = uuid.uuid4().hex[:12]
    from .multirun import app_commands, check_apps, run_app

    commands = app_commands(launch, python, _sweeper_args(args, plan, session) +
                            _launcher_args(args, plan, session), list(args.hydra_overrides))
    if (len(commands) > 1 or args.hydra_overrides) and not args.skip_config_check:
        # each multirun checks its own app before launching; with several apps (or overrides
        # after --, which the multirun's own command line composes first), check them all
        # first so a bad override stops the study with exit 2 before anything runs
        print(f"Config check: composing the runs of {len(commands)} apps ...", flush=True)
        check_apps(study, list(commands.values()), cwd=str(study.repo_root))
    for run in decisions.reuse:
        record_reuse_run(study, run, python, session)
    started = time.time()
    unrun: list[str] = []
    for key, command in commands.items():
        ids = {r.run_id for r in launch if app_key(r) == key}
        unrun += run_app(command, cwd=str(study.repo_root), ledger=ledger, ids=ids,
                         session=session, log_dir=study.generated / "logs",
                         plain=args.no_progress)
        if args.fail_fast and _failed_in(ledger, ids, session):
            break
    from .sweep import rebuild_study_views

    records = rebuild_study_views(str(study.file), plan=plan, only_if_changed=True)
    changed = records is not None
    if records is None:   # no record (and not the study) changed since the last rebuild
        from ..ledger.views import mark_stale, sorted_records
        from ..plan import build_plan

        records = sorted_records(known)   # what the rebuild would have returned
        full = plan if not plan.filters else build_plan(study)
        mark_stale(records, {r.run_id: r.fingerprint for r in full.runs})
    from .outcome import Outcome

    # every selected run, now final: the records the views were just built from
    outcome = Outcome.read(plan.runs, {r["run_id"]: r for r in records}, session)
    rc = _report(plan, outcome, time.time() - started, unrun, decisions)
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
    except StorageError:
        raise   # a full disk is the user's to fix, and the exit code must say so
    except StudyError as exc:
        print(f"Report not written: {exc.message}")
        return
    except Exception as exc:  # noqa: BLE001 - a broken report must not hide the runs
        print(f"warning: report not written ({type(exc).__name__}: {exc}); "
              f"`{COMMAND} --study {study.display_file} report` retries", file=sys.stderr)
        return
    print(f"Report: {paths['summary']}, {paths['plot']}, {paths['workbook']}")


def _sweeper_args(args, plan, session: str) -> list[str]:
    from .multirun import session_args

    return session_args(plan, session, stale=args.stale, force=args.force,
                        retry_failed=args.retry_failed, fail_fast=args.fail_fast,
                        max_retries=args.max_retries, timeout_seconds=args.timeout_seconds)


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


def _failed_in(ledger, ids: set[str], session: str) -> bool:
    for run_id in ids:
        rec = ledger.read(run_id)
        if rec is not None and rec.get("session") == session and \
                rec.get("status") not in ("success", "reused", "running"):
            return True
    return False


def _report(plan, outcome, elapsed: float, unrun: list[str], decisions) -> int:
    """The final lines and the exit code, from the records of every selected run."""
    print(outcome.line(elapsed))
    bad = [(run_id, outcome.records.get(run_id) or {}) for run_id in outcome.incomplete]
    for run_id, rec in bad[:20]:
        status = outcome.states[run_id]
        if status == "pending":
            why = "never run" + (" (this invocation did not get to it)" if run_id in unrun
                                 else "")
        elif status == "running":
            why = "still executing elsewhere, or its process died unrecorded"
        else:
            why = str(rec.get("error"))
            if run_id in decisions.left_failed:
                why += " (earlier; not retried: use --retry-failed)"
        log = f"  log: {rec['log_path']}" if rec.get("log_path") else ""
        print(f"  [{status}] {run_id}: {why}{log}")
    if len(bad) > 20:
        print(f"  ... and {len(bad) - 20} more (status lists them)")
    for run_id, ids in list(outcome.eval_failed.items())[:20]:
        print(f"  [evaluator failed] {run_id}: {', '.join(ids)}")
    warned = [(run_id, outcome.records[run_id]["warnings"]) for run_id in outcome.ran
              if outcome.records[run_id].get("warnings")]
    for run_id, warnings in warned[:20]:   # e.g. the run wrote nothing into its folder
        print(f"  [warning] {run_id}: {'; '.join(map(str, warnings))}")
    if len(warned) > 20:
        print(f"  ... and {len(warned) - 20} more run(s) with warnings (in their records)")
    gen = plan.study.generated
    print(f"Views: {gen / 'repro_lock.json'}, {gen / 'study_index.json'}")
    return outcome.exit_code
