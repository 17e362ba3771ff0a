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
import uuid
from pathlib import Path
from typing import Any, Sequence

from .. import overrides as ov
from ..errors import StudyError
from ..model import Run
from ..plan import COMMAND_APP, Filters, app_key, build_plan
from .decide import decide
from .multirun import CRASH_MARK, DEFER_VIEWS_ENV
from .scope import SCOPES, ProcessApp, belongs_here, current_app_module

log = logging.getLogger("silisocs_study.sweep")

DEFAULT_BATCH = 50
__all__ = ["CRASH_MARK", "DEFER_VIEWS_ENV", "StudySweep", "SweepSettings",
           "rebuild_study_views"]


class SweepSettings:
    """The sweeper's parameters (hydra.sweeper.*), normalised."""

    def __init__(self, **kw: Any) -> None:
        self.study: str | None = kw.get("study")
        self.workspace: str | None = kw.get("workspace")
        self.plan_file: str | None = kw.get("plan_file")
        self.repo_root: str | None = kw.get("repo_root")
        self.filters = Filters.parse(
            hypothesis=_listish(kw.get("only_hypothesis")),
            condition=_listish(kw.get("only_condition")),
            sub_experiment=_listish(kw.get("only_sub_experiment")),
            seed=_listish(kw.get("only_seed")), run_id=_listish(kw.get("only_run_id")))
        self.max_batch_size: int | None = kw.get("max_batch_size")
        self.force = bool(kw.get("force"))
        self.retry_failed = bool(kw.get("retry_failed"))
        self.max_retries = int(kw.get("max_retries") or 0)
        self.fail_fast = bool(kw.get("fail_fast"))
        self.stale = kw.get("stale") or "rerun"
        self.dry_run = bool(kw.get("dry_run"))
        self.timeout_seconds = kw.get("timeout_seconds")
        self.session = kw.get("session") or uuid.uuid4().hex[:12]
        self.validate = kw.get("validate", True)
        self.scope = kw.get("scope") or "auto"
        if self.scope not in SCOPES:
            raise StudyError(f"hydra.sweeper.scope must be one of {', '.join(SCOPES)}, "
                             f"got '{self.scope}'")
        self.unit_config_path: str | None = kw.get("unit_config_path") or None
        self.check: str | None = kw.get("check") or None   # report path: compose only
        self.wait = bool(kw.get("wait"))   # another orchestrator runs the study: wait
        self.attach_callback = kw.get("attach_callback", True)


def _listish(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    try:
        from omegaconf import ListConfig

        if isinstance(value, ListConfig):
            return [str(v) for v in value]
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def load(settings: SweepSettings, cwd: str | None, extra: Sequence[str] = ()):
    """(study, plan); ``extra`` (the multirun's own overrides) is folded into every run's
    overrides. A Slurm task's plan.json already holds the submission's folded overrides."""
    if settings.plan_file:  # a Slurm array task: its rows of the submission's plan.json
        from ..hpc.planfile import plan_from_file

        return plan_from_file(settings.plan_file, settings.filters)
    from ..extra_overrides import fold_extra_overrides
    from ..spec import load_study

    base = Path(cwd) if cwd else Path.cwd()
    root = settings.repo_root or str(base)
    study = load_study(settings.study, root if Path(root).is_absolute() else base / root,
                       cwd=base, workspace=settings.workspace)
    for note in fold_extra_overrides(study, extra):
        log.warning(note)
    return study, build_plan(study, settings.filters)


VIEWS_STAMP = ".views_stamp.json"
VIEW_FILES = ("repro_lock.json", "repro_lock.jsonl", "study_index.json", "study_enriched.yaml")


def _views_stamp(study) -> dict | None:
    """What the views are built from, by content: a hash over every record file's name and
    bytes, plus the study file's bytes (stale marks depend on it). Never file identity or
    timestamps: a rewritten record can reuse the freed inode, and a retry within the same
    clock tick keeps size and mtime. Reading 10,000 records for the hash costs ~0.1 s."""
    import hashlib

    digest = hashlib.blake2b(digest_size=32)
    records = study.generated / "records"
    try:
        with os.scandir(records) as entries:
            names = sorted(e.name for e in entries)
        spec = Path(study.file).read_bytes()
    except FileNotFoundError:
        return None
    for name in names:
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(_content(records / name))
        digest.update(b"\0")
    study_hash = hashlib.blake2b(spec, digest_size=16).hexdigest()
    return {"records_blake2b": digest.hexdigest(), "records": len(names),
            "study_file": str(study.file), "study_blake2b": study_hash}


def _content(path: Path) -> bytes:
    """A record file's bytes; what is not a regular file (a FIFO, a folder, a link planted
    there) is hashed by its kind: opened without following links or blocking."""
    import stat

    from ..ledger.records import _O_READ

    try:
        fd = os.open(path, _O_READ)
    except OSError as exc:
        return f"<{exc.errno}>".encode()
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return f"<{stat.S_IFMT(mode)}>".encode()
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        return f"<{exc.errno}>".encode()
    finally:
        os.close(fd)


def _views_fresh(study, stamp: dict | None) -> bool:
    import json

    if stamp is None or not all((study.generated / f).exists() for f in VIEW_FILES):
        return False
    try:
        return json.loads((study.generated / VIEWS_STAMP).read_text()) == stamp
    except (OSError, ValueError):
        return False


def rebuild_study_views(study_path: str, repo_root: str | None = None, cwd: str | None = None,
                        plan=None, workspace: str | None = None,
                        only_if_changed: bool = False) -> list[dict] | None:
    """Rebuild every view from all records. With ``only_if_changed``, return None without
    writing anything when no record and not the study file changed since the last rebuild."""
    from ..atomic import atomic_write_json
    from ..ledger.views import rebuild_views

    if plan is None:
        settings = SweepSettings(study=study_path, repo_root=repo_root, workspace=workspace)
        _, plan = load(settings, cwd)
    study = plan.study
    stamp = _views_stamp(study)   # taken before the records are read
    if only_if_changed and _views_fresh(study, stamp):
        return None
    meta = {"name": study.name, "study_id": study.study_id,
            "study_version": study.meta.get("study_version"),
            "parent_studies": study.meta.get("parent_studies", []),
            "derived_from_runs": study.meta.get("derived_from_runs", []),
            "question": study.meta.get("question"), "file": str(study.file)}
    from ..plan import build_plan as _bp

    full = plan if not plan.filters else _bp(study)
    fingerprints = {r.run_id: r.fingerprint for r in full.runs}
    records = rebuild_views(study.generated, meta, study.raw, fingerprints, study.repo_root)
    _after_views(study, records)
    stamp_path = study.generated / VIEWS_STAMP
    if stamp is not None:
        atomic_write_json(stamp_path, stamp)
    else:
        stamp_path.unlink(missing_ok=True)
    return records


def _after_views(study, records) -> None:
    """Hook for derived trees (organized/, reports) added by the reports issue."""
    try:
        from ..report.organize import organize_after_run
    except ImportError:
        return
    organize_after_run(study, records)


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
        if self.s.scope == "unit" or self.s.plan_file or self.s.dry_run:
            return self._sweep(study, plan, extra, python, facts, app)
        from ..ledger.studylock import study_lock

        # one orchestrator per study (a CLI `run` that started this multirun holds it already)
        with study_lock(study.workspace, study=f"study {study.study_id}", wait=self.s.wait):
            return self._sweep(study, plan, extra, python, facts, app)

    def _sweep(self, study, plan, extra: list[str], python: str, facts, app) -> list:
        from ..ledger import Ledger

        top = self.s.scope != "unit"   # a unit multirun does only its app's runs
        ledger = Ledger(study.generated)
        if not self.s.plan_file and top:
            from ..ledger.adopt import adopt_external

            adopt_external(plan)   # runs silisocs' own study runner finished count here
        from .recover import recover_finished

        recover_finished(study, plan.runs, ledger, python)   # finished, orchestrator died
        records = ledger.all() if not self.s.plan_file else {
            r.run_id: rec for r in plan.runs if (rec := ledger.read(r.run_id)) is not None}
        if (damaged := ledger.damaged_warning()):
            print(damaged, file=sys.stderr)
        decisions = decide(plan.runs, records, force=self.s.force,
                           retry_failed=self.s.retry_failed, stale=self.s.stale,
                           session=self.s.session)
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
            os.environ["SILISOCS_STUDY_VIEWS_DONE"] = self.s.session  # nothing to rebuild
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
            for run in decisions.reuse:
                self._reuse(study, run, python)
        if here:
            self._write_multirun_yaml()
            returns = self._launch(study, here, extra, python)
        for command, runs in others:
            self._run_other_app(study, command, runs)
        os.environ["SILISOCS_STUDY_VIEWS_DONE"] = self.s.session
        if top and os.environ.get(DEFER_VIEWS_ENV) != self.s.session and not self.s.plan_file:
            rebuild_study_views(str(study.file), plan=plan)
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
               "hydra.sweeper.session", "hydra.sweep.dir", "hydra.sweeper.dry_run")
        args = [str(o) for o in given if not str(o).lstrip("+~").startswith(own)]
        if not any(a.startswith("hydra/sweeper=") for a in args):
            args.insert(0, "hydra/sweeper=study")
        args.append(ov.format_override("hydra.sweeper.session", self.s.session))
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
                ids={r.run_id for r in runs}, session=self.s.session,
                log_dir=study.generated / "logs", progress=False)

    def _check(self, study, plan, extra: list[str], python: str, facts, app) -> list:
        """Check mode: compose each group of this app's runs once; report; launch nothing."""
        from ..atomic import atomic_write_json

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
        os.environ["SILISOCS_STUDY_VIEWS_DONE"] = self.s.session   # nothing to rebuild
        return []

    def _report_failures(self, ledger, runs: list[Run], left: list[str] = ()) -> None:
        """What happened to the runs this multirun was responsible for, from their records
        (not from counters): failures with their error, runs never run, output warnings.
        Selected runs left failed (not retried) make the exit code 1 too: the selection is
        not complete."""
        failed, unrun, warned = [], [], []
        for run in runs:
            rec = ledger.read(run.run_id)
            if rec is None or rec.get("session") != self.s.session:
                unrun.append(run.run_id)
                continue
            if rec.get("status") not in ("success", "reused"):
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
        from ..plan import write_plan_json

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

    def _reuse(self, study, run: Run, python: str) -> None:
        from .reuse import record_reuse_run

        record_reuse_run(study, run, python, self.s.session)

    def _job_overrides(self, study, run: Run, extra: list[str], python: str, *,
                       write: bool = True, previous: str | None = None) -> list[str]:
        """The job's overrides; writes its job file (``write``: False composes only)."""
        from ..jobs import JOB_ENV, write_job
        from ..plan import job_overrides

        path = write_job(study, run, python, session=self.s.session,
                         timeout_seconds=self.s.timeout_seconds, previous_attempt=previous) \
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
        from ..ledger import Ledger

        ledger = Ledger(study.generated)
        size = self.s.max_batch_size or self._default_batch()
        queue = list(runs)
        solo: list[Run] = []       # relaunched alone: their batch died under them
        isolated: set[str] = set()
        attempts: dict[str, int] = {}
        returns: list = []
        job_idx = 0
        while queue or solo:
            if solo:
                batch = [solo.pop(0)]
            else:
                batch, queue = queue[:size], queue[size:]
            batch = self._not_executing(batch)
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
            unfinished = [] if error is None else [
                r for i, r in enumerate(batch) if i >= len(results)
                and not self._finished(ledger, r) and r.run_id not in isolated]
            if len(unfinished) < 2:
                unfinished = []   # a single unfinished run is the one that crashed
            relaunch = {r.run_id for r in unfinished}
            retry = []
            for i, run in enumerate(batch):
                if run.run_id in relaunch:
                    continue
                rec = self._reconcile(ledger, study, run, results[i] if i < len(results)
                                      else None, error, python)
                if rec["status"] in ("success", "reused"):
                    self.succeeded += 1
                    continue
                attempts[run.run_id] = attempts.get(run.run_id, 0) + 1
                crashed = rec["status"] == "timeout" or CRASH_MARK in (rec.get("error") or "")
                if crashed and attempts[run.run_id] <= self.s.max_retries:
                    log.info("retrying %s (%s)", run.run_id, rec["status"])
                    retry.append(run)
                else:
                    self.failed.append(run.run_id)
            if unfinished:
                # a dying worker can take its siblings (loky) or keep others from starting:
                # run each unfinished job alone once, so only the one that crashes fails
                log.info("%d run(s) of the broken batch did not finish; relaunching each "
                         "alone", len(unfinished))
                isolated.update(r.run_id for r in unfinished)
                solo.extend(unfinished)
            queue.extend(retry)
            log.info("batch done: %d ok, %d failed so far, %d queued", self.succeeded,
                     len(self.failed), len(queue) + len(solo))
            if self.failed and self.s.fail_fast:
                log.warning("fail_fast: stopping after the first failure; %d run(s) not "
                            "launched", len(queue) + len(solo))
                break
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
        return rec is not None and rec.get("session") == self.s.session and \
            rec.get("status") != "running"

    def _reconcile(self, ledger, study, run: Run, result, launch_error, python) -> dict:
        """The run's final record; written here when its job never reported."""
        rec = ledger.read(run.run_id)
        if rec is not None and rec.get("session") == self.s.session and \
                rec.get("status") != "running":
            return rec
        from ..jobs import job_document
        from ..ledger.recorder import record_finish

        job = job_document(study, run, python, session=self.s.session,
                           timeout_seconds=self.s.timeout_seconds)
        started = rec if rec is not None and rec.get("status") == "running" and \
            rec.get("session") == self.s.session else None
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
