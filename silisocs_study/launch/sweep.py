"""The study sweeper's core: plan → decide → launch in batches → reconcile → views.

Kept out of ``hydra_plugins`` so Hydra's plugin scan stays cheap; the plugin class is a thin
adapter. The per-run record written by the job's callback is the source of truth: after each
batch the sweeper reconciles, so a job whose process died (os._exit, SIGKILL, OOM) is
recorded as failed while the rest of its batch keeps its records.
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
from ..plan import Filters, build_plan
from .decide import decide
from .scope import belongs_here, current_app_module, primary_config_dir, run_key

log = logging.getLogger("silisocs_study.sweep")

DEFAULT_BATCH = 50
CRASH_MARK = "job process ended without reporting"
DEFER_VIEWS_ENV = "SILISOCS_STUDY_DEFER_VIEWS"   # = the session whose views the CLI rebuilds


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


def load(settings: SweepSettings, cwd: str | None):
    if settings.plan_file:  # a Slurm array task: its rows of the submission's plan.json
        from ..hpc.planfile import plan_from_file

        return plan_from_file(settings.plan_file, settings.filters)
    from ..spec import load_study

    base = Path(cwd) if cwd else Path.cwd()
    root = settings.repo_root or str(base)
    study = load_study(settings.study, root if Path(root).is_absolute() else base / root,
                       cwd=base, workspace=settings.workspace)
    return study, build_plan(study, settings.filters)


VIEWS_STAMP = ".views_stamp.json"
VIEW_FILES = ("repro_lock.json", "repro_lock.jsonl", "study_index.json", "study_enriched.yaml")


def _views_stamp(study) -> dict | None:
    """What the views are built from: every record file's name and inode (each record write
    is an os.replace of a new file, so a new inode; readdir gives both without a stat), and
    the study file (stale marks depend on it)."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with os.scandir(study.generated / "records") as entries:
            items = sorted((e.name, e.inode()) for e in entries)
        spec = os.stat(study.file)
    except FileNotFoundError:
        return None
    for name, inode in items:
        digest.update(f"{name}\0{inode}\n".encode())
    return {"records_sha256": digest.hexdigest(), "records": len(items),
            "study_file": str(study.file), "study_mtime_ns": spec.st_mtime_ns,
            "study_size": spec.st_size}


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
        cwd = str(self.config.hydra.runtime.cwd)
        study, plan = load(self.s, cwd)
        from ..spec.study_v1 import python_executable

        python = python_executable()
        generated = study.generated
        generated.mkdir(parents=True, exist_ok=True)
        from ..ledger import Ledger

        ledger = Ledger(generated)
        records = ledger.all() if not self.s.plan_file else {
            r.run_id: rec for r in plan.runs if (rec := ledger.read(r.run_id)) is not None}
        decisions = decide(plan.runs, records, force=self.s.force,
                           retry_failed=self.s.retry_failed, stale=self.s.stale,
                           session=self.s.session)
        app = current_app_module()
        config_dir = primary_config_dir(self.config)
        here = [r for r in decisions.launch if belongs_here(r, app, config_dir, self.s.scope)]
        here_ids = {r.run_id for r in here}
        elsewhere = [r for r in decisions.launch if r.run_id not in here_ids]
        summary = decisions.summary()
        log.info("study %s: %d run(s) planned; new %d, retry %d, stale %d, skip %d, "
                 "failed-left %d, reuse %d; launching %d here", study.study_id, len(plan.runs),
                 summary["new"], summary["retry"], summary["stale"], summary["skip"],
                 summary["failed_left"], summary["reuse"], len(here))
        if elsewhere:
            keys = sorted({f"{m} (config {c})" if c else m for m, c in map(run_key, elsewhere)})
            log.info("%d run(s) need another app: %s — `silisocs-sweep run` launches each",
                     len(elsewhere), ", ".join(keys))
        if self.s.dry_run:
            self._write_dry_run(plan, python)
            os.environ["SILISOCS_STUDY_VIEWS_DONE"] = self.s.session  # nothing to rebuild
            return []
        if not self.s.plan_file:
            self._write_plan(plan, python)
        returns: list = []
        if app != "silisocs_study.launch.command_app":
            for run in decisions.reuse:
                self._reuse(study, run, python)
        if here:
            if self.s.validate:
                self._validate(study, here, extra, python)
            self._write_multirun_yaml()
            returns = self._launch(study, here, extra, python)
        os.environ["SILISOCS_STUDY_VIEWS_DONE"] = self.s.session
        if os.environ.get(DEFER_VIEWS_ENV) != self.s.session and not self.s.plan_file:
            rebuild_study_views(str(study.file), plan=plan)
        # else: `silisocs-sweep run` started this multirun and rebuilds the views once,
        # after all of its multiruns (each rebuild re-reads every record)
        left = decisions.left_failed
        if left:
            log.info("%d earlier failed run(s) not retried (use retry_failed=true)", len(left))
        if self.failed:
            print(f"[silisocs-sweep] {len(self.failed)} of {len(here)} run(s) failed: "
                  f"{', '.join(self.failed[:5])}{' ...' if len(self.failed) > 5 else ''}",
                  file=sys.stderr)
            sys.stderr.flush()
            raise SystemExit(1)
        return returns

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
        from ..jobs import job_document
        from ..ledger.recorder import record_reuse

        record_reuse(job_document(study, run, python, session=self.s.session))

    def _job_overrides(self, study, run: Run, extra: list[str], python: str) -> list[str]:
        from ..jobs import JOB_ENV, write_job
        from ..plan import job_overrides

        path = write_job(study, run, python, session=self.s.session,
                         timeout_seconds=self.s.timeout_seconds)
        args = list(extra) + (job_overrides(run) if run.command is None else [])
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
                self.validate_fn([self._job_overrides(study, run, extra, python)])
            except Exception as exc:
                raise StudyError(f"{run.group.key}: the run's overrides do not compose with "
                                 f"the app's config: {exc}".replace("\n", " ")) from None

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
            overrides = [self._job_overrides(study, r, extra, python) for r in batch]
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
