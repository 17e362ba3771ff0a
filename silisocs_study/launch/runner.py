"""``silisocs-sweep run``: plan, show what will happen, then one Hydra multirun per app.

Each multirun is a subprocess (``python -m <runner> --multirun hydra/sweeper=study ...``), so
a job that kills its process (os._exit under the basic launcher) cannot take the orchestrator
down: the runner marks that run failed and starts the multirun again for the runs not yet
attempted in this session. Progress is read from the record files, not from stdout.
"""
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Callable

from .. import overrides as ov
from ..constants import COMMAND
from ..errors import StorageError, StudyError
from ..options import LaunchOptions
from ..workspace import Workspace
from .session import Session, prepare

if TYPE_CHECKING:
    from ..views import ViewsResult

#: asked before launching many runs (the CLI asks on a terminal); None: launch
Confirm = Callable[[int, str], bool]
CONFIRM_ABOVE = 50


def run_study(workspace: Workspace, options: LaunchOptions, *, dry_run: bool = False,
              confirm: Confirm | None = None, wait: bool = False) -> int:
    """Run the workspace's plan: decide, launch one Hydra multirun per app, then views,
    reports and (experiments) results and post actions. Returns the exit code the records
    give. ``wait``: another orchestrator runs this study: wait for it instead of exit 2."""
    study = workspace.study
    if dry_run:
        return _run(workspace, options, dry_run=True, confirm=confirm)
    from ..ledger.studylock import study_lock

    with study_lock(study.workspace, study=f"study {study.study_id}", wait=wait):
        return _run(workspace, options, dry_run=False, confirm=confirm)   # one orchestrator


def _run(workspace: Workspace, options: LaunchOptions, *, dry_run: bool,
         confirm: Confirm | None) -> int:
    plan = workspace.plan
    study = plan.study
    session = prepare(plan, force=options.force, retry_failed=options.retry_failed,
                      stale=options.stale)
    decisions = session.decisions
    print(session.summary_line())
    if decisions.left_failed:
        print(f"  {len(decisions.left_failed)} failed run(s) are not retried "
              f"(use --retry-failed)")
    workspace.write_spec_copy()
    rnd = None
    if study.adaptive:
        from .rounds import next_round

        rnd = next_round(plan, session.records.values())
        todo = {r.run_id for r in decisions.launch}
        print(f"{rnd.line(capital=True)}; the next round launches "
              f"{sum(1 for r in rnd.runs if r.run_id in todo)} run(s)"
              + (f"; {len(rnd.saved)} of the fixed design's runs are saved by arms that "
                 f"stopped" if rnd.saved else ""))
    if dry_run:
        from ..bashgen import write_script
        from ..plan import Plan
        from ..planfile import write_plan_json

        write_plan_json(plan, study.generated / "plan.json", session.python)
        write_script(Plan(study, [r for r in rnd.runs if r.run_id in todo], plan.total,
                          plan.filters) if rnd else plan,
                     study.generated / "run_study.sh", session.python)
        print(f"Dry run: wrote {study.generated / 'plan.json'} and "
              f"{study.generated / 'run_study.sh'}")
        return 0
    launch = decisions.launch
    if len(launch) > CONFIRM_ABOVE and confirm is not None and \
            not confirm(len(launch), options.launcher):
        print("Nothing launched.")
        workspace.give_back()   # a folder claimed just now; a continued one keeps its files
        return 2
    extra = list(options.extra_overrides)
    hydra_args = _sweeper_args(options, plan, session.id) + _launcher_args(options, plan,
                                                                           session.id)
    from ..plan import app_key
    from .multirun import app_commands, check_apps

    if options.check_config and (len({app_key(r) for r in launch}) > 1 or extra):
        # each multirun checks its own app before launching; with several apps (or overrides
        # after --, which the multirun's own command line composes first), check them all
        # first so a bad override stops the study with exit 2 before anything runs
        commands = app_commands(launch, session.python, hydra_args, extra)
        print(f"Config check: composing the runs of {len(commands)} apps ...", flush=True)
        check_apps(study, list(commands.values()), cwd=str(study.repo_root))
    session.record_reuse()
    started = time.time()
    if study.adaptive:
        unrun, final = _rounds(workspace, session, options, hydra_args, extra)
        return _close(workspace, session, time.time() - started, unrun, final)
    unrun = session.launch_apps(launch, hydra_args, extra, cwd=str(study.repo_root),
                                live=options.progress, fail_fast=options.fail_fast)
    return _close(workspace, session, time.time() - started, unrun)


def _rounds(workspace: Workspace, session: Session, options: LaunchOptions,
            hydra_args: list[str], extra: list[str]):
    """An adaptive study: each round's runs through one multirun per app (told the round by
    a round file), until a round starts nothing. Returns (runs never run, the final round)."""
    from .decide import decide
    from .rounds import run_rounds, write_round_file

    plan = workspace.plan
    study = plan.study
    unrun: list[str] = []
    launched: list = []

    def launch(rnd) -> int:
        todo = decide(rnd.runs, session.ledger.all(), force=options.force,
                      retry_failed=options.retry_failed, stale=options.stale,
                      session=session.id).launch
        if not todo:
            return 0
        print(f"{rnd.line(capital=True)}: launching {len(todo)} run(s)", flush=True)
        path = write_round_file(study.generated, session.id, rnd, todo)
        args = hydra_args + [ov.format_override("hydra.sweeper.round_file", path)]
        unrun.extend(session.launch_apps(todo, args, extra, cwd=str(study.repo_root),
                                         live=options.progress, fail_fast=options.fail_fast,
                                         log_tag=f"r{rnd.number}"))
        launched.extend(todo)
        return sum(1 for r in todo
                   if (session.ledger.read(r.run_id) or {}).get("session") == session.id)

    final = run_rounds(plan, session.ledger, launch)
    session.decisions.launch = launched   # the views re-read these records
    return unrun, final


def _close(workspace: Workspace, session: Session, elapsed: float, unrun: list[str],
           final=None) -> int:
    """Views, the closing lines and exit code from the records, reports, results.
    ``final``: an adaptive study's last round — the seeds its stopped arms saved are not
    part of the selection the exit code is read from."""
    from ..views import refresh
    from .outcome import Outcome

    plan = workspace.plan
    decisions = session.decisions
    # the runs this session recorded are read again whatever their files' signatures say;
    # the study lock keeps other orchestrators out, so any other record changed only if
    # its file did (size, mtime, inode). Nothing changed: the records read at the start
    changed = [r.run_id for r in decisions.launch + decisions.reuse]
    # ... and the records this session wrote are read now: another process (a Slurm finalize
    # job) may have rebuilt the views after them, and then refresh trusts ``known``
    known = dict(session.records)
    for run_id in changed:
        rec = session.ledger.read(run_id)
        if rec is not None:
            known[run_id] = rec
    views = refresh(plan, changed=changed, only_if_changed=True, known=known)
    by_id = {r["run_id"]: r for r in views.records}
    selected = plan.runs
    if final is not None:
        saved = {r.run_id for r in final.saved}
        selected = [r for r in plan.runs if r.run_id not in saved]
        print(f"Adaptive: {final.summary()}")
    outcome = Outcome.read(selected, by_id, session.id)   # every selected run, now final
    rc = _report(plan, outcome, elapsed, unrun, session.decisions)
    return max(rc, write_outputs(workspace, views))


def write_outputs(workspace: Workspace, views: "ViewsResult") -> int:
    """After the views: a study's reports (when a record changed, or none exist yet), or an
    experiment's results.yaml and post actions. Returns 1 if a post action failed."""
    study = workspace.study
    if not workspace.is_experiment and views.records and (
            views.rebuilt or not (study.generated / "reports" / "summary.md").exists()):
        write_study_reports(study, views.records, views.analysis)
    return workspace.finish(views.records)


def write_study_reports(study, records: list[dict], analysis: dict | None) -> None:
    """A run ends with an answer: summary.md, report.html, comparison.png and the workbook."""
    try:
        from ..report.reports import write_reports

        paths = write_reports(study, records=records, analysis=analysis)
    except StorageError:
        raise   # a full disk is the user's to fix, and the exit code must say so
    except StudyError as exc:
        print(f"Report not written: {exc.message}")
        return
    except Exception as exc:  # noqa: BLE001 - a broken report must not hide the runs
        print(f"warning: report not written ({type(exc).__name__}: {exc}); "
              f"`{COMMAND} --study {study.display_file} report` retries", file=sys.stderr)
        return
    print(f"Report: {paths['summary']}, {paths['html']}, {paths['plot']}, {paths['workbook']}")


def _sweeper_args(options: LaunchOptions, plan, session: str) -> list[str]:
    from .multirun import session_args

    return session_args(plan, session, stale=options.stale, force=options.force, views="caller",
                        retry_failed=options.retry_failed, fail_fast=options.fail_fast,
                        max_retries=options.max_retries,
                        timeout_seconds=options.timeout_seconds)


def _launcher_args(args: LaunchOptions, plan, session: str) -> list[str]:
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
