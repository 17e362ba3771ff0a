"""A tiny Hydra app that runs one exact command: how ``execution.command`` runs become
Hydra jobs, so every launcher (basic, joblib, submitit, Slurm) can run them.

The job file (``SILISOCS_STUDY_JOB``, set per job by the study sweeper) names the argv and
working directory. The command runs in its own process group with output captured to
``command.log`` in the run directory; on timeout the whole group is killed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class CommandAppConf:
    timeout_seconds: float | None = None


ConfigStore.instance().store(name="silisocs_command", node=CommandAppConf)


class CommandFailed(RuntimeError):
    """The command exited non-zero (or timed out); carries its exit code and log tail."""

    def __init__(self, message: str, exit_code: int, tail: list[str], timed_out: bool) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.tail = tail
        self.timed_out = timed_out

    def __reduce__(self):   # pickled back to a joblib/submitit parent as itself
        return (CommandFailed, (str(self), self.exit_code, self.tail, self.timed_out))


def run_command_job(job: dict) -> int:
    from ..evaluate import run_logged, tail

    run_dir = Path(job["output_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "command.log"
    timeout = job.get("timeout_seconds")
    env = dict(os.environ, SILISOCS_RUN_ID=job["run_id"], SILISOCS_RUN_DIR=str(run_dir))
    code, timed_out = run_logged(job["command"], cwd=job["working_directory"],
                                 log_path=log_path, timeout=timeout, env=env, done=run_dir)
    if timed_out:
        raise CommandFailed(f"command timed out after {timeout:g}s", code, tail(log_path), True)
    if code != 0:
        raise CommandFailed(f"command exited with code {code}", code, tail(log_path), False)
    return code


@hydra.main(version_base="1.3", config_path=None, config_name="silisocs_command")
def main(cfg) -> int:
    from ..jobs import JOB_ENV, read_job

    path = os.environ.get(JOB_ENV)
    if not path:
        raise SystemExit("silisocs_study.launch.command_app runs study jobs; start it through "
                         "the study sweeper (silisocs-sweep run)")
    return run_command_job(read_job(path))


if __name__ == "__main__":
    main()
