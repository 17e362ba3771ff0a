"""``StudyCallback``: records, evaluates and indexes each run in the job's own process.

Enable it with one override: ``hydra/callbacks=study`` (the study sweeper also attaches it
when missing). Hydra pickles callbacks into joblib workers and Slurm jobs, so the object
holds no locks or handles; per-job state lives in a dict that is dropped when pickled.

Jobs that share a process (basic launcher, reused joblib workers) stay isolated: the
process-global state a job may change (stdout/stderr, logging handlers, cwd, environment,
signal handlers, warning filters) is captured when it starts and restored when it ends,
before the run is recorded.
"""
from __future__ import annotations

import os
import signal
import threading
import traceback
from typing import Any

from hydra.experimental.callback import Callback

from .jobs import JOB_ENV

VIEWS_DONE_ENV = "SILISOCS_STUDY_VIEWS_DONE"


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


def _output_warnings(job: dict, config: Any) -> list[str]:
    """A run folder holding nothing but Hydra's own files: the app wrote its output
    elsewhere (it ignored the injected output key) or wrote nothing at all."""
    from omegaconf import OmegaConf

    from .rundir import hydra_entries, wrote_nothing

    folder = job.get("output_dir")
    if not folder or job.get("mode") == "reuse_existing":
        return []
    ignore = hydra_entries(OmegaConf.select(config, "hydra.job.name", default=None),
                           OmegaConf.select(config, "hydra.output_subdir", default=None))
    if not wrote_nothing(folder, ignore | {"command.log"}):
        return []
    return [f"the run wrote nothing into its folder {folder} (only Hydra's own files): does "
            f"the app read the injected output key? see run_defaults.inject.output_dir"]


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

    def __getstate__(self) -> dict:
        return {"rebuild_views": self.rebuild_views, "_active": {}, "_state": {}}

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        path = _job_path(config)
        if not path or not _is_rank_zero():
            return
        from .jobs import read_job
        from .ledger.recorder import record_start
        from .procstate import ProcessState

        self._state[path] = ProcessState.capture()
        job = read_job(path)
        from .launch.configcache import install

        install()   # a reused worker (joblib) composes its next jobs from parsed files
        self._active[path] = record_start(job, launcher=_launcher_name(config))
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
        record_finish(job, started, status=status, error=error, tail=tail, exit_code=code,
                      launcher=_launcher_name(config), warnings=_output_warnings(job, config))

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Rebuild the views unless the study sweeper already did in this process."""
        from omegaconf import OmegaConf

        study = OmegaConf.select(config, "hydra.sweeper.study", default=None)
        if not study or not self.rebuild_views or os.environ.get(VIEWS_DONE_ENV):
            return
        from .launch.sweep import rebuild_study_views

        rebuild_study_views(str(study), OmegaConf.select(config, "hydra.sweeper.repo_root",
                                                         default=None),
                            cwd=OmegaConf.select(config, "hydra.runtime.cwd", default=None),
                            workspace=OmegaConf.select(config, "hydra.sweeper.workspace",
                                                       default=None))
