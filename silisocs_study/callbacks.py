"""``StudyCallback``: records, evaluates and indexes each run in the job's own process.

Enable it with one override: ``hydra/callbacks=study`` (the study sweeper also attaches it
when missing). Hydra pickles callbacks into joblib workers and Slurm jobs, so the object
holds no locks or handles; per-job state lives in a dict that is dropped when pickled.

Jobs that share a process (basic launcher, reused joblib workers) stay isolated: the
process-global state a job may change (stdout/stderr, logging handlers, cwd, environment,
signal handlers, warning filters, processes it started) is captured when it starts and
restored when it ends, before the run is recorded.

The job's process holds the run's lease (:mod:`silisocs_study.ledger.lease`) from before the
app starts until its record is written, so no second execution of the run can start meanwhile.
A failed job's exception is replaced by a picklable one, so a joblib pool survives it.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from hydra.experimental.callback import Callback

from .jobs import JOB_ENV

ATTEMPT_ENV = "SILISOCS_ATTEMPT_ID"


class JobTimeout(Exception):
    """Raised inside a job that exceeded its study timeout."""


def _on_alarm(signum, frame):  # pragma: no cover - exercised through real jobs
    raise JobTimeout("run exceeded its timeout")


def _job_path(config: Any) -> str | None:
    from omegaconf import OmegaConf

    try:
        return OmegaConf.select(config, f"hydra.job.env_set.{JOB_ENV}", default=None)
    except Exception:
        return None


def _env_set_keys(config: Any) -> list[str]:
    """Variables of ``hydra.job.env_set``: Hydra restores those itself before on_job_end."""
    from omegaconf import OmegaConf

    env_set = OmegaConf.select(config, "hydra.job.env_set", default=None)
    return list(env_set.keys()) if env_set else []


def _output_warnings(job: dict, config: Any, cwd: tuple | None = None) -> list[str]:
    """A run folder holding nothing but Hydra's own files: the app wrote its output
    elsewhere (it ignored the injected output key) or wrote nothing at all. ``cwd``: the
    job's working directory and its files when the job started (named if they changed)."""
    from omegaconf import OmegaConf

    from .rundir import cwd_note, hydra_entries, wrote_nothing

    folder = job.get("output_dir")
    if not folder or job.get("mode") == "reuse_existing":
        return []
    ignore = hydra_entries(OmegaConf.select(config, "hydra.job.name", default=None),
                           OmegaConf.select(config, "hydra.output_subdir", default=None))
    from .ledger.lease import LEASE_NAME
    from .rundir import DONE_NAME

    if not wrote_nothing(folder, ignore | {"command.log", LEASE_NAME, DONE_NAME}):
        return []
    return [f"the run wrote nothing into its folder {folder} (only Hydra's own files): does "
            f"the app read the injected output key? see run_defaults.inject.output_dir"
            + cwd_note(folder, *(cwd or (None, None)))]


def read_job_quick(path: str) -> dict:
    from .jobs import read_job

    return read_job(path)


def _mark_done(job: dict, attempt_id: str, job_return: Any) -> None:
    """The attempt finished: say so in its run folder before anything else (its exact
    command's guard may have said it already, the moment the command exited)."""
    from hydra.core.utils import JobStatus

    from .rundir import read_done, write_done

    folder = job.get("output_dir")
    if not folder or job.get("mode") == "reuse_existing":
        return
    done = read_done(folder)
    if done is not None and done.get("attempt_id") == attempt_id:
        return
    exc = getattr(job_return, "_return_value", None)
    if job_return.status == JobStatus.COMPLETED:
        status, code, error = "success", 0, None
    else:
        timed_out = isinstance(exc, JobTimeout) or getattr(exc, "timed_out", False)
        status = "timeout" if timed_out else "failed"
        code, error = getattr(exc, "exit_code", 1), f"{type(exc).__name__}: {exc}"
    try:
        write_done(folder, attempt_id=attempt_id, status=status, exit_code=code, error=error)
    except OSError:   # the record still says what happened
        pass


def _take_lease(job: dict, config: Any) -> int | None:
    """The run's lease for this process. Held by a live process already: a single-run job
    (a Slurm task started directly) stops before its app starts; a job of a multirun (its
    orchestrator checked the lease just before launching: a race) waits for the holder."""
    from omegaconf import OmegaConf

    from .ledger import lease

    fd, holder = lease.take(job["output_dir"], run_id=job["run_id"], session=job.get("session"))
    if holder is None:
        return fd
    where = lease.describe(holder)
    mode = str(OmegaConf.select(config, "hydra.mode", default="") or "")
    if not mode.endswith("MULTIRUN"):
        print(f"[silisocs-sweep] {job['run_id']} is executing in {where}: not starting it "
              f"a second time", file=sys.stderr, flush=True)
        os._exit(0)
    print(f"[silisocs-sweep] {job['run_id']} is executing in {where}: waiting for it",
          file=sys.stderr, flush=True)
    while holder is not None:
        time.sleep(0.5)
        fd, holder = lease.take(job["output_dir"], run_id=job["run_id"],
                                session=job.get("session"))
    return fd


class JobFailed(RuntimeError):
    """A job's exception that could not be pickled (back to a joblib or submitit parent),
    as its type name, message, exit code and tail."""

    def __init__(self, message: str, exit_code: int = 1, tail: list[str] | None = None,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.tail = tail or []
        self.timed_out = timed_out

    def __reduce__(self):
        return (JobFailed, (str(self), self.exit_code, self.tail, self.timed_out))


def _make_picklable(job_return: Any) -> None:
    import pickle

    exc = getattr(job_return, "_return_value", None)
    if not isinstance(exc, BaseException):
        return
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - whatever fails to pickle is replaced
        tail = getattr(exc, "tail", None) or traceback.format_exception(
            type(exc), exc, exc.__traceback__)[-20:]
        job_return._return_value = JobFailed(
            f"{type(exc).__name__}: {exc}", getattr(exc, "exit_code", 1),
            [line for chunk in tail for line in str(chunk).splitlines()][-40:],
            bool(getattr(exc, "timed_out", False)))


def _is_rank_zero() -> bool:
    """With submitit tasks_per_node>1 every task runs the job: only rank 0 records."""
    for var in ("SUBMITIT_GLOBAL_RANK", "SLURM_PROCID"):
        value = os.environ.get(var)
        if value not in (None, "", "0"):
            return False
    return True


def _launcher_name(config: Any) -> str | None:
    from omegaconf import OmegaConf

    target = OmegaConf.select(config, "hydra.launcher._target_", default=None)
    return str(target).rsplit(".", 1)[-1] if target else None


class StudyCallback(Callback):
    def __init__(self, rebuild_views: bool = True) -> None:
        self.rebuild_views = rebuild_views
        self._active: dict[str, dict] = {}
        self._state: dict[str, Any] = {}
        self._leases: dict[str, int | None] = {}
        self._cwd: dict[str, tuple] = {}   # job → (its cwd, the files there when it started)

    def __getstate__(self) -> dict:
        return {"rebuild_views": self.rebuild_views, "_active": {}, "_state": {},
                "_leases": {}, "_cwd": {}}

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        path = _job_path(config)
        if not path or not _is_rank_zero():
            return
        from .jobs import read_job
        from .ledger.recorder import record_start
        from .procstate import ProcessState

        self._state[path] = ProcessState.capture()
        job = read_job(path)
        from .rundir import top_files

        # where the app (or exact command) runs: what it writes there lands outside its folder
        cwd = str(job.get("working_directory") or os.getcwd()) if job.get("command") else \
            os.getcwd()
        self._cwd[path] = (cwd, top_files(cwd))
        if job.get("mode") != "reuse_existing":
            self._leases[path] = _take_lease(job, config)
        from .launch.configcache import install

        install()   # a reused worker (joblib) composes its next jobs from parsed files
        self._active[path] = record_start(job, launcher=_launcher_name(config))
        # the attempt this process runs (its exact command's guard marks it done by this id)
        os.environ[ATTEMPT_ENV] = self._active[path]["attempt_id"]
        timeout = job.get("timeout_seconds")
        if timeout and job.get("command") is None and \
                threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, float(timeout))

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        path = _job_path(config)
        if not path or not _is_rank_zero():
            return
        if threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)
        started = self._active.get(path)
        if started is not None:   # first: an orchestrator killed from now on records the run
            _mark_done(read_job_quick(path), started["attempt_id"], job_return)
        state = self._state.pop(path, None)
        if state is not None:   # first: recording must not run under the job's stdout, cwd...
            state.restore(keep_env=_env_set_keys(config))
        from hydra.core.utils import JobStatus

        from .jobs import read_job
        from .ledger.recorder import record_finish

        job = read_job(path)
        started = self._active.pop(path, None)
        status, error, tail, code = "success", None, None, 0
        if job_return.status != JobStatus.COMPLETED:
            exc = getattr(job_return, "_return_value", None)
            status, code = "failed", getattr(exc, "exit_code", 1)
            if isinstance(exc, JobTimeout) or getattr(exc, "timed_out", False):
                status = "timeout"
            error = f"{type(exc).__name__}: {exc}" if exc is not None else "job failed"
            tail = getattr(exc, "tail", None) or (traceback.format_exception(
                type(exc), exc, exc.__traceback__)[-20:] if exc is not None else [])
            tail = [line.rstrip("\n") for chunk in tail for line in chunk.splitlines()][-40:]
        try:
            record_finish(job, started, status=status, error=error, tail=tail,
                          exit_code=code, launcher=_launcher_name(config),
                          warnings=_output_warnings(job, config, self._cwd.pop(path, None)))
        except Exception as exc:
            # the run could not be recorded (a full disk...): the job must not count as a
            # success; its return carries why (the sweeper prints it, the CLI exits 1)
            job_return.status = JobStatus.FAILED
            job_return.return_value = exc
            raise
        finally:
            from .ledger.lease import release

            release(self._leases.pop(path, None))   # after the record: it decides now
        if status != "success":
            _make_picklable(job_return)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Rebuild the views after a multirun of another sweeper that names a study (the
        study sweeper rebuilds them itself, or leaves them to its caller: its ``views``)."""
        from omegaconf import OmegaConf

        from .launch.settings import TARGET

        study = OmegaConf.select(config, "hydra.sweeper.study", default=None)
        ours = OmegaConf.select(config, "hydra.sweeper._target_", default=None) == TARGET
        if not study or not self.rebuild_views or ours:
            return
        from pathlib import Path

        from .views import refresh
        from .workspace import open_plan

        cwd = OmegaConf.select(config, "hydra.runtime.cwd", default=None)
        root = OmegaConf.select(config, "hydra.sweeper.repo_root", default=None)
        plan = open_plan(str(study), root or cwd, cwd=Path(cwd) if cwd else None,
                         workspace=OmegaConf.select(config, "hydra.sweeper.workspace",
                                                    default=None))
        refresh(plan)
