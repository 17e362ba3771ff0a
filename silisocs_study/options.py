"""How to launch a study's runs, as one typed value the CLI, the API and Slurm tasks build.

Nothing below the CLI sees flags: ``silisocs-sweep run --launcher joblib ...`` becomes a
:class:`LaunchOptions`, so does ``silisocs_study.run(launcher="joblib")``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm")
STALE_POLICIES = ("rerun", "skip", "error")


@dataclass(frozen=True)
class LaunchOptions:
    """What ``run`` does with the runs it decides to launch."""

    launcher: str = "basic"
    max_concurrent: int | None = None     # joblib workers, submitit batch, array throttle
    batch_size: int | None = None         # jobs per launcher batch (default: the sweeper's)
    timeout_seconds: float | None = None  # per run; the job is killed and recorded timeout
    force: bool = False                   # re-run completed runs too
    retry_failed: bool = False            # re-run failed/timed-out runs
    max_retries: int = 0                  # automatic retries of crashed runs in this session
    stale: str = "rerun"                  # completed runs whose plan changed
    fail_fast: bool = False
    progress: bool = True                 # a live display (else plain lines)
    extra_overrides: tuple[str, ...] = field(default_factory=tuple)   # after `--`
    check_config: bool = True             # compose every app before the first run starts

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}, "
                             f"got {self.launcher!r}")
        if self.stale not in STALE_POLICIES:
            raise ValueError(f"stale must be one of {', '.join(STALE_POLICIES)}, "
                             f"got {self.stale!r}")
        object.__setattr__(self, "extra_overrides", tuple(self.extra_overrides))
