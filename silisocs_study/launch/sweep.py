"""The study sweeper's core: plan → decide → launch in batches → reconcile → views.

Kept out of ``hydra_plugins`` so Hydra's plugin scan stays cheap; the plugin class is a thin
adapter. The per-run record written by the job's callback is the source of truth: after each
batch the sweeper reconciles, so a job whose process died (os._exit, SIGKILL, OOM) is
recorded as failed while the rest of its batch keeps its records.

Runs of other apps (another runner module, a per-scenario config path, exact commands) go to
one multirun subprocess per app with the same launcher settings; their composition is checked
before anything runs. ``check`` mode only composes and reports (the plan-time check).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Hashable, Sequence

from .. import overrides as ov
from ..errors import StudyError
from ..model import Run
from ..plan import COMMAND_APP, app_key, build_plan
from ..status import Status, is_complete
from .batches import BatchQueue, Verdict
from .multirun import CRASH_MARK
from .scope import ProcessApp, belongs_here, current_app_module
from .session import new_session_id, prepare
from .settings import SweepSettings

log = logging.getLogger("silisocs_study.sweep")

DEFAULT_BATCH = 50
__all__ = ["CRASH_MARK", "StudySweep", "SweepSettings", "load"]


def load(settings: SweepSettings, cwd: str | None, extra: Sequence[str] = ()):
    """(study, plan); ``extra`` (the multirun's own overrides) is folded into every run's
    overrides. A Slurm task's plan.json already holds the submission's folded overrides."""
    if settings.plan_file:  # a Slurm array task: its rows of the submission's plan.json
        from ..planfile import plan_from_file

        return plan_from_file(settings.plan_file, settings.filters)
    from ..extra_overrides import fold_extra_overrides
    from ..spec import load_study

    assert settings.study is not None   # the plugin sweeps a study only when one is named
    base = Path(cwd) if cwd else Path.cwd()
    root = settings.repo_root or str(base)
    study = load_study(settings.study, root if Path(root).is_absolute() else base / root,
                       cwd=base, workspace=settings.workspace)
    for note in fold_extra_overrides(study, extra):
        log.warning(note)
    plan = build_plan(study, settings.filters)
    if settings.round_file:   # one round of an adaptive study: exactly its runs
        from ..plan import Plan
        from .rounds import read_round_file

        _, ids = read_round_file(settings.round_file)
        plan = Plan(study, [r for r in plan.runs if r.run_id in ids], plan.total, plan.filters)
    return study, plan


class StudySweep:
    """One sweep of a study inside a Hydra multirun."""

    def __init__(self, settings: SweepSettings, *, config: Any, hydra_context: Any,
                 launcher: Any, validate_fn) -> None:
        self.s = settings
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = launcher
        self.validate_fn = validate_fn
        self.failed: list[str] = []
        self.busy: list[str] = []   # still executing elsewhere: not started here
        self.succeeded = 0
        self.session = settings.session or new_session_id()
        self.launched: list[Run] = []     # every run this sweep launched (all rounds)
        self.round: int | None = None     # the adaptive round being launched
        if settings.round_file:
            from .rounds import read_round_file

            self.round = read_round_file(settings.round_file)[0]

    # -- entry --------------------------------------------------------------------------------
    def run(self, arguments: Sequence[str]) -> list:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        for override in parser.parse_overrides(list(arguments)):
            if override.is_sweep_override():
                raise StudyError(f"'{override.input_line}' is a sweep; with a study, put the "
                                 f"values in the study file (extra overrides apply to every run)")
        extra = list(arguments)
        from .configcache import install

        install()   # every job's composition re-reads the same config files: parse once
        cwd = str(self.config.hydra.runtime.cwd)
        study, plan = load(self.s, cwd, extra)
        from ..appconfig import app_facts
        from ..spec.study_v1 import python_executable

        python = python_executable()
        facts = app_facts(self.config)
        app = ProcessApp(current_app_module(), self.config)
        if self.s.check:
            return self._check(study, plan, extra, python, facts, app)
        rounds = bool(study.adaptive) and self.s.scope != "unit" and not self.s.plan_file \
            and not self.s.round_file
        sweep = self._rounds if rounds else self._sweep
        if self.s.scope == "unit" or self.s.plan_file or self.s.dry_run:
            return sweep(study, plan, extra, python, facts, app)
        from ..ledger.studylock import study_lock

        # one orchestrator per study (a CLI `run` that started this multirun holds it already)
        with study_lock(study.workspace, study=f"study {study.study_id}", wait=self.s.wait):
            return sweep(study, plan, extra, python, facts, app)

    def _rounds(self, study, plan, extra: list[str], python: str, facts, app) -> list:
        """An adaptive study: round after round until every arm has stopped (each round is
        an ordinary sweep of its runs), then the views, reports and exit code once."""
        from ..ledger import Ledger
        from ..plan import Plan
        from .rounds import next_round, run_rounds, write_round_file

        ledger = Ledger(study.generated)
        if self.s.dry_run:
            rnd = next_round(plan, ledger.all().values())
            log.info("%s; the next round runs %d run(s): %s", rnd.line(), len(rnd.runs),
                     ", ".join(r.run_id for r in rnd.runs[:8]) +
                     (" ..." if len(rnd.runs) > 8 else ""))
            return self._sweep(study, Plan(study, rnd.runs, plan.total, plan.filters), extra,
                               python, facts, app)
        returns: list = []

        def launch(rnd) -> int:
            log.info(rnd.line())
            self.round = rnd.number
            before = len(self.launched)
            self.s.round_file = write_round_file(study.generated, self.session, rnd, rnd.runs)
            returns.extend(self._sweep(study, Plan(study, rnd.runs, plan.total, plan.filters),
                                       extra, python, facts, app, closing=False))
            # runs that got a record from this session (one still executing elsewhere did
            # not: a round that starts nothing ends the loop)
            return sum(1 for r in self.launched[before:]
                       if (ledger.read(r.run_id) or {}).get("session") == self.session)

        final = run_rounds(plan, ledger, launch)
        log.info("adaptive: every arm has stopped — %s", final.summary())
        self.s.round_file = None
        if self.s.views == "here":
            from ..views import refresh

            views = refresh(plan, changed=[r.run_id for r in self.launched])
            if study.kind != "experiment" and views.records and views.rebuilt:
                from .runner import write_study_reports

                write_study_reports(study, views.records, views.analysis)
        self._report_failures(ledger, self.launched)
        return returns

    def _sweep(self, study, plan, extra: list[str], python: str, facts, app, *,
               closing: bool = True) -> list:
        """One sweep of ``plan`` (``closing``: then the views, reports and exit code)."""
        top = self.s.scope != "unit"   # a unit multirun does only its app's runs
        # runs silisocs' own study runner finished count here; a Slurm task reads only its own
        prepared = prepare(plan, force=self.s.force, retry_failed=self.s.retry_failed,
                           stale=self.s.stale, session=self.session, python=python,
                           adopt=not self.s.plan_file and top,
                           whole_ledger=not self.s.plan_file, attempted_in=self.session)
        ledger, decisions = prepared.ledger, prepared.decisions
        here = [r for r in decisions.launch
                if belongs_here(r, app, self.s.scope, self.s.unit_config_path)]
        for run in here:
            run.app = facts
        here_ids = {r.run_id for r in here}
        elsewhere = [r for r in decisions.launch if r.run_id not in here_ids] if top else []
        summary = decisions.summary()
        log.info("study %s: %d run(s) planned; new %d, retry %d, stale %d, skip %d, "
                 "failed-left %d, reuse %d; launching %d here%s", study.study_id,
                 len(plan.runs), summary["new"], summary["retry"], summary["stale"],
                 summary["skip"], summary["failed_left"], summary["reuse"], len(here),
                 f", {len(elsewhere)} through other apps" if elsewhere else "")
        if self.s.dry_run:
            self._write_dry_run(plan, python)
            return []
        # compose every group of every app first: a bad override stops the study before
        # anything is written or runs
        others = self._other_apps(study, elsewhere, python, extra)
        if here and self.s.validate:
            self._validate(study, here, extra, python)
        study.generated.mkdir(parents=True, exist_ok=True)
        if not self.s.plan_file and top:
            self._write_plan(plan, python)
        returns: list = []
        if top and app.module != COMMAND_APP:
            prepared.record_reuse()
        if here:
            self._write_multirun_yaml()
            returns = self._launch(study, here, extra, python)
        for command, runs in others:
            self._run_other_app(study, command, runs)
        self.launched += here + elsewhere
        if not closing:
            return returns
        if top and self.s.views == "here" and not self.s.plan_file:
            from ..views import refresh

            views = refresh(plan, changed=[r.run_id for r in here + elsewhere + decisions.reuse])
            if study.kind != "experiment" and views.records and views.rebuilt:
                from .runner import write_study_reports

                write_study_reports(study, views.records, views.analysis)   # as `run` does
        # else: whoever started this multirun rebuilds the views once, after all of its
        # multiruns (each rebuild re-reads every record)
        left = decisions.left_failed if top else []
        if left:
            log.info("%d earlier failed run(s) not retried (use retry_failed=true)", len(left))
        self._report_failures(ledger, here + elsewhere, left)
        return returns

    # -- other apps and the composition check ----------------------------------------------
    def _child_hydra_args(self) -> list[str]:
        """The hydra overrides this multirun was started with, for the multiruns of other
        apps: same sweeper settings and launcher, same session, their own sweep dir."""
        from omegaconf import OmegaConf

        given = OmegaConf.select(self.config, "hydra.overrides.hydra", default=None) or []
        own = ("hydra.sweeper.scope", "hydra.sweeper.unit_config_path", "hydra.sweeper.check",
               "hydra.sweeper.session", "hydra.sweep.dir", "hydra.sweeper.dry_run",
               "hydra.sweeper.round_file")
        args = [str(o) for o in given if not str(o).lstrip("+~").startswith(own)]
        if self.s.round_file:   # this round's runs of the other apps
            args.append(ov.format_override("hydra.sweeper.round_file", self.s.round_file))
        if not any(a.startswith("hydra/sweeper=") for a in args):
            args.insert(0, "hydra/sweeper=study")
        args.append(ov.format_override("hydra.sweeper.session", self.session))
        args.append(ov.format_override("hydra.sweep.dir", str(Path(
            self.config.hydra.sweep.dir) / "apps")))
        name = OmegaConf.select(self.config, "hydra.job.config_name", default=None)
        return (["--config-name", str(name)] if name else []) + args

    def _other_apps(self, study, runs: list[Run], python: str, extra: list[str]) -> list:
        """The multirun commands for runs of other apps; their groups are composed (checked)
        first, so a bad override there stops the study before anything runs."""
        if not runs:
            return []
        from .multirun import app_commands, check_apps

        child_args = self._child_hydra_args()
        commands = app_commands(runs, python, child_args, extra)
        if self.s.validate:
            check_apps(study, list(commands.values()), cwd=str(self.config.hydra.runtime.cwd))
        return [(cmd, [r for r in runs if app_key(r) == key]) for key, cmd in commands.items()]

    def _run_other_app(self, study, command, runs: list[Run]) -> None:
        from ..ledger import Ledger
        from .multirun import run_app

        log.info("launching %d run(s) through %s", len(runs), command.label())
        run_app(command, cwd=str(self.config.hydra.runtime.cwd), ledger=Ledger(study.generated),
                ids={r.run_id for r in runs}, session=self.session,
                log_dir=study.generated / "logs", progress=False,
                log_tag=f"r{self.round}" if self.round else "")

    def _check(self, study, plan, extra: list[str], python: str, facts, app) -> list:
        """Check mode: compose each group of this app's runs once; report; launch nothing."""
        from ..atomic import atomic_write_json

        assert self.s.check is not None   # check mode: settings.check names the report
        errors: list[dict] = []
        seen: set[str] = set()
        for run in plan.runs:
            if run.reuse is not None or run.group.key in seen or not belongs_here(
                    run, app, self.s.scope, self.s.unit_config_path):
                continue
            seen.add(run.group.key)
            run.app = facts
            try:
                self.validate_fn([self._job_overrides(study, run, extra, python, write=False)])
            except Exception as exc:  # noqa: BLE001 - any composition failure is reported
                errors.append({"group": run.group.key, "message": str(exc)})
        atomic_write_json(self.s.check, {"facts": facts.to_json(), "groups": len(seen),
                                         "errors": errors})
        return []

    def _report_failures(self, ledger, runs: list[Run], left: Sequence[str] = ()) -> None:
        """What happened to the runs this multirun was responsible for, from their records
        (not from counters): failures with their error, runs never run, output warnings.
        Selected runs left failed (not retried) make the exit code 1 too: the selection is
        not complete."""
        failed, unrun, warned = [], [], []
        for run in runs:
            rec = ledger.read(run.run_id)
            if rec is None or rec.get("session") != self.session:
                unrun.append(run.run_id)
                continue
            if not is_complete(rec):
                failed.append(rec)
            if rec.get("warnings"):
                warned.append(rec)
        for rec in warned[:10]:
            print(f"[silisocs-sweep] warning: {rec['run_id']}: {'; '.join(rec['warnings'])}",
                  file=sys.stderr)
        if left:
            print(f"[silisocs-sweep] {len(left)} selected run(s) failed earlier and were not "
                  f"retried (hydra.sweeper.retry_failed=true): {', '.join(left[:5])}"
                  f"{' ...' if len(left) > 5 else ''}", file=sys.stderr)
        if not failed and not unrun:
            if left:
                sys.stderr.flush()
                raise SystemExit(1)
            return
        print(f"[silisocs-sweep] {len(failed)} of {len(runs)} run(s) failed"
              f"{f', {len(unrun)} not run' if unrun else ''}", file=sys.stderr)
        for rec in failed[:10]:
            where = f"  (log: {rec['log_path']})" if rec.get("log_path") else ""
            print(f"  [{rec.get('status')}] {rec['run_id']}: {rec.get('error')}{where}",
                  file=sys.stderr)
        busy = [r for r in unrun if r in set(self.busy)]
        if busy:
            print(f"  still executing elsewhere (not started again): {', '.join(busy[:5])}"
                  f"{' ...' if len(busy) > 5 else ''}", file=sys.stderr)
        unrun = [r for r in unrun if r not in set(self.busy)]
        if unrun:
            print(f"  not run: {', '.join(unrun[:5])}{' ...' if len(unrun) > 5 else ''}",
                  file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(1)

    # -- steps ------------------------------------------------------------------------------
    def _write_plan(self, plan, python: str) -> None:
        from ..planfile import write_plan_json

        write_plan_json(plan, plan.study.generated / "plan.json", python)

    def _write_multirun_yaml(self) -> None:
        """Like BasicSweeper: the sweep's config in ``<hydra.sweep.dir>/multirun.yaml``."""
        from omegaconf import OmegaConf

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

    def _write_dry_run(self, plan, python: str) -> None:
        from ..bashgen import write_script

        self._write_plan(plan, python)
        write_script(plan, plan.study.generated / "run_study.sh", python)
        log.info("dry run: wrote %s and %s", plan.study.generated / "plan.json",
                 plan.study.generated / "run_study.sh")

    def _job_overrides(self, study, run: Run, extra: list[str], python: str, *,
                       write: bool = True, previous: str | None = None) -> list[str]:
        """The job's overrides; writes its job file (``write``: False composes only)."""
        from ..jobs import JOB_ENV, write_job
        from ..plan import job_overrides

        path = write_job(study, run, python, session=self.session,
                         timeout_seconds=self.s.timeout_seconds, previous_attempt=previous,
                         adaptive_round=self.round) \
            if write else study.generated / "jobs" / f"{run.run_id}.json"
        # the multirun's own overrides (after `--`) are folded into job_overrides: load()
        args = job_overrides(run) if run.command is None else []
        args.append(ov.format_override("hydra.sweep.subdir", run.output_dir))
        args.append(ov.format_override(f"++hydra.job.env_set.{JOB_ENV}", str(path)))
        return args

    def _validate(self, study, runs: list[Run], extra: list[str], python: str) -> None:
        """Compose one job per group before launching anything: bad keys fail fast."""
        seen = set()
        for run in runs:
            if run.group.key in seen:
                continue
            seen.add(run.group.key)
            try:
                self.validate_fn([self._job_overrides(study, run, extra, python, write=False)])
            except Exception as exc:  # noqa: BLE001 - any composition failure stops the study
                from ..appconfig import locate

                raise locate(study, run.group, str(exc),
                             prefix="does not compose with the app's config: ") from None

    def _launch(self, study, runs: list[Run], extra: list[str], python: str) -> list:
        """Launch ``runs`` in batches through Hydra's launcher; the records decide each
        run's verdict (:mod:`.batches` decides what comes next)."""
        from ..ledger import Ledger

        ledger = Ledger(study.generated)
        queue = BatchQueue(runs, size=self.s.max_batch_size or self._default_batch(),
                           max_retries=self.s.max_retries, fail_fast=self.s.fail_fast,
                           key=lambda r: r.run_id)
        returns: list = []
        job_idx = 0
        while not queue.done():
            batch = self._not_executing(queue.next_batch())
            if not batch:
                continue
            overrides = [self._job_overrides(study, r, extra, python,
                                             previous=self._clear_folder(study, r))
                         for r in batch]
            error = None
            results: Sequence = []
            try:
                results = self.launcher.launch(overrides, initial_job_idx=job_idx)
            except Exception as exc:  # joblib/submitit lose the whole batch on a hard crash
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                log.warning("launcher error (records decide each run's fate): %s", error)
            job_idx += len(batch)
            returns.append(results)
            # a dying worker can take its siblings (loky) or keep others from starting:
            # each unfinished job runs alone once, so only the one that crashes fails
            alone = queue.relaunch_alone([] if error is None else [
                r for i, r in enumerate(batch) if i >= len(results)
                and not self._finished(ledger, r)])
            if alone:
                log.info("%d run(s) of the broken batch did not finish; relaunching each "
                         "alone", len(alone))
            verdicts: dict[Hashable, Verdict] = {}   # run id → verdict
            for i, run in enumerate(batch):
                if run.run_id in alone:
                    continue
                rec = self._reconcile(ledger, study, run, results[i] if i < len(results)
                                      else None, error, python)
                verdicts[run.run_id] = _verdict(rec)
                if verdicts[run.run_id] is Verdict.CRASHED and \
                        queue.attempts.get(run.run_id, 0) < self.s.max_retries:
                    log.info("retrying %s (%s)", run.run_id, rec["status"])
            queue.settle(batch, verdicts)
            self.succeeded = len(queue.succeeded)
            self.failed = [r.run_id for r in queue.failed]
            log.info("batch done: %d ok, %d failed so far, %d queued", self.succeeded,
                     len(self.failed), queue.waiting)
        if queue.stopped:
            log.warning("fail_fast: stopping after the first failure; %d run(s) not "
                        "launched", queue.waiting)
        return returns

    def _not_executing(self, runs: list[Run]) -> list[Run]:
        """Runs whose lease no live process holds. One that is still executing (a Slurm task,
        an orphan of a killed orchestrator) is never started a second time: reported."""
        from ..ledger import lease

        free = []
        for run in runs:
            holder = lease.holder(run.output_dir)
            if holder is None:
                free.append(run)
                continue
            log.warning("%s is executing in %s: not starting it a second time", run.run_id,
                        lease.describe(holder))
            self.busy.append(run.run_id)
        return free

    def _clear_folder(self, study, run: Run) -> str | None:
        """Move what an earlier attempt left in the run's folder aside (never summed)."""
        from ..rundir import move_aside

        try:
            return move_aside(run.output_dir, protect=(study.repo_root, study.workspace,
                                                       study.generated, Path.cwd()))
        except OSError as exc:
            raise StudyError(f"{run.run_id}: cannot move the earlier attempt in "
                             f"{run.output_dir} aside: {exc}") from None

    def _default_batch(self) -> int:
        """fail_fast: batches no larger than the launcher runs at once, so the sweep stops
        soon after the first failure (the basic launcher: one job per batch)."""
        if not self.s.fail_fast:
            return DEFAULT_BATCH
        from omegaconf import OmegaConf

        n = OmegaConf.select(self.config, "hydra.launcher.n_jobs", default=None)
        try:
            n = int(n) if n is not None else 1
        except (TypeError, ValueError):
            n = 1
        return n if n > 0 else max(1, (os.cpu_count() or 1) + 1 + n)

    def _finished(self, ledger, run: Run) -> bool:
        """The run has a final record from this sweep (its job reported)."""
        rec = ledger.read(run.run_id)
        return rec is not None and rec.get("session") == self.session and \
            rec.get("status") != "running"

    def _reconcile(self, ledger, study, run: Run, result, launch_error, python) -> dict:
        """The run's final record; written here when its job never reported."""
        rec = ledger.read(run.run_id)
        if rec is not None and rec.get("session") == self.session and \
                rec.get("status") != "running":
            return rec
        from ..jobs import job_document
        from ..ledger.recorder import record_finish

        job = job_document(study, run, python, session=self.session,
                           timeout_seconds=self.s.timeout_seconds, adaptive_round=self.round)
        started = rec if rec is not None and rec.get("status") == "running" and \
            rec.get("session") == self.session else None
        if result is not None and _completed(result):
            # the job finished but its callback did not record it (callback removed?)
            return record_finish(job, started, status="success")
        error = f"{CRASH_MARK} ({launch_error})" if launch_error else CRASH_MARK
        if result is not None:
            exc = getattr(result, "_return_value", None)
            error = f"{type(exc).__name__}: {exc}" if exc is not None else error
        return record_finish(job, started, status="failed", error=error, evaluate=False)


def _completed(result) -> bool:
    from hydra.core.utils import JobStatus

    return getattr(result, "status", None) == JobStatus.COMPLETED


def _verdict(rec: dict) -> Verdict:
    """A run's final record → what the batch queue needs to know."""
    status = Status.of(rec.get("status"))
    if status.is_complete:
        return Verdict.OK
    if status is Status.TIMEOUT or CRASH_MARK in (rec.get("error") or ""):
        return Verdict.CRASHED
    return Verdict.FAILED
