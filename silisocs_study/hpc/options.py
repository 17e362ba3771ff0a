"""What ``submitit`` and ``slurm-array`` submit: the selection, resources, hooks; validation.

Every bad value is a :class:`StudyError` (one line, exit 2) raised before anything is
written or submitted.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import StudyError
from .hooks import Hooks

ARRAY_MODES = ("case", "seed", "hypothesis", "run")
_NAME = re.compile(r"^[^\s\x00-\x1f]+$")


@dataclass
class Resources:
    job_name: str | None = None
    timeout_minutes: int | None = None
    cpus_per_task: int | None = None
    nodes: int | None = None
    tasks_per_node: int | None = None
    gpus_per_node: int | None = None
    mem_gb: float | None = None
    partition: str | None = None
    account: str | None = None
    constraint: str | None = None
    comment: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sbatch_args(self) -> list[str]:
        """sbatch options (they override the script's #SBATCH lines)."""
        out = []
        if self.job_name:
            out.append(f"--job-name={self.job_name}")
        if self.timeout_minutes:
            out.append(f"--time={self.timeout_minutes}")
        for flag, value in (("--cpus-per-task", self.cpus_per_task), ("--nodes", self.nodes),
                            ("--ntasks-per-node", self.tasks_per_node),
                            ("--gpus-per-node", self.gpus_per_node),
                            ("--partition", self.partition), ("--account", self.account),
                            ("--constraint", self.constraint), ("--comment", self.comment)):
            if value not in (None, ""):
                out.append(f"{flag}={value}")
        if self.mem_gb:
            out.append(f"--mem={mem_mb(self.mem_gb)}M")
        return out

    def submitit_params(self) -> dict[str, Any]:
        """``AutoExecutor.update_parameters`` keywords (None/zero omitted)."""
        params: dict[str, Any] = {"name": self.job_name,
                                  "timeout_min": self.timeout_minutes or 60}
        for key, value in (("cpus_per_task", self.cpus_per_task), ("nodes", self.nodes),
                           ("tasks_per_node", self.tasks_per_node),
                           ("gpus_per_node", self.gpus_per_node),
                           ("slurm_partition", self.partition),
                           ("slurm_account", self.account),
                           ("slurm_constraint", self.constraint),
                           ("slurm_comment", self.comment)):
            if value not in (None, "", 0):
                params[key] = value
        if self.mem_gb:
            # submitit takes whole GB; pass fractional amounts through --mem in MB
            if float(self.mem_gb).is_integer():
                params["mem_gb"] = int(self.mem_gb)
            else:
                params["slurm_additional_parameters"] = {"mem": f"{mem_mb(self.mem_gb)}M"}
        return params


def mem_mb(gb: float) -> int:
    return max(1, int(round(float(gb) * 1024)))


def _positive(value: float | None, flag: str, *, zero_ok: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise StudyError(f"{flag} must be {'>= 0' if zero_ok else 'a positive number'}, "
                         f"got {value:g}")


def _text(value: str | None, flag: str) -> None:
    if value is not None and not _NAME.match(value):
        raise StudyError(f"{flag} must be a non-empty word without spaces, got {value!r}")


def checked_resources(r: Resources) -> Resources:
    """``r`` if every value is usable by sbatch (else one StudyError naming the flag)."""
    for value, flag in ((r.timeout_minutes, "--timeout-minutes"),
                        (r.cpus_per_task, "--cpus-per-task"), (r.nodes, "--nodes"),
                        (r.tasks_per_node, "--tasks-per-node"), (r.mem_gb, "--mem-gb")):
        _positive(value, flag)
    _positive(r.gpus_per_node, "--gpus-per-node", zero_ok=True)
    for text, flag in ((r.job_name, "--job-name"), (r.partition, "--partition"),
                       (r.account, "--account"), (r.constraint, "--constraint")):
        _text(text, flag)
    if r.comment is not None and ("\n" in r.comment or "\r" in r.comment):
        raise StudyError("--slurm-comment must be one line")
    r.gpus_per_node = r.gpus_per_node or None
    return r


def checked_hooks(setup_command: str | None, server_command: str | None,
                  server_ready_url: str | None, server_timeout_seconds: float | None) -> Hooks:
    if server_ready_url and not server_command:
        raise StudyError("--server-ready-url needs --server-command (the server to wait for)")
    url = server_ready_url
    if url is not None and not re.match(r"^https?://[^\s]+$", url):
        raise StudyError(f"--server-ready-url must be an http(s) URL, got {url!r}")
    if server_timeout_seconds is None or server_timeout_seconds <= 0:
        raise StudyError(f"--server-timeout-seconds must be a positive number, got "
                         f"{server_timeout_seconds}")
    for value, flag in ((setup_command, "--setup-command"),
                        (server_command, "--server-command")):
        if value is not None and not value.strip():
            raise StudyError(f"{flag} is empty")
    return Hooks(setup_command, server_command, url, float(server_timeout_seconds))


@dataclass
class SubmitOptions:
    """One ``submitit`` / ``slurm-array`` invocation: what to select and how to submit it."""

    study: str
    repo_root: str | None = None
    filters: Any = None                  # plan.Filters
    workspace: str | None = None
    extra_overrides: tuple[str, ...] = ()
    wait: bool = False
    array_mode: str = "case"
    max_concurrent: int | None = None
    retry_failed: bool = False
    timeout_seconds: float | None = None
    stale: str = "rerun"
    resources: Resources = field(default_factory=Resources)
    hooks: Hooks = field(default_factory=lambda: Hooks(None, None, None, 600.0))
    # submitit
    dry_run: bool = False
    folder: str | None = None
    # slurm-array
    base_script: str | None = None
    runner_python: str | None = None
    runs_per_task: int | None = None
    submit: bool = False
    check_config: bool = True

    def __post_init__(self) -> None:
        _positive(self.max_concurrent, "--max-concurrent")
        _positive(self.timeout_seconds, "--timeout-seconds")
        k = self.runs_per_task
        if k is not None:
            if k < 1:
                raise StudyError(f"--runs-per-task must be a positive number, got {k}")
            if k > 1 and self.array_mode != "run":
                raise StudyError("--runs-per-task packs runs into tasks: use it with "
                                 "--array-mode run")
        self.extra_overrides = tuple(self.extra_overrides)

    def to_json(self) -> dict[str, Any]:
        """What a later submission of the same study needs (an adaptive study's finalize job
        submits the next round with these): JSON values only."""
        from dataclasses import asdict

        from ..plan import Filters

        filters = self.filters if self.filters is not None else Filters()
        return {"study": self.study, "repo_root": self.repo_root,
                "filters": filters.to_json(), "workspace": self.workspace,
                "extra_overrides": list(self.extra_overrides), "array_mode": self.array_mode,
                "max_concurrent": self.max_concurrent, "retry_failed": self.retry_failed,
                "timeout_seconds": self.timeout_seconds, "stale": self.stale,
                "resources": asdict(self.resources), "hooks": self.hooks.to_json(),
                "base_script": self.base_script, "runner_python": self.runner_python,
                "runs_per_task": self.runs_per_task, "submit": self.submit,
                "check_config": self.check_config}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SubmitOptions":
        from ..plan import Filters

        f = data.get("filters") or {}
        filters = Filters(frozenset(f.get("hypotheses") or ()),
                          frozenset(f.get("conditions") or ()),
                          frozenset(f.get("sub_experiments") or ()),
                          frozenset(int(s) for s in f.get("seeds") or ()),
                          frozenset(f.get("run_ids") or ()))
        return cls(study=data["study"], repo_root=data.get("repo_root"), filters=filters,
                   workspace=data.get("workspace"),
                   extra_overrides=tuple(data.get("extra_overrides") or ()),
                   array_mode=data.get("array_mode") or "case",
                   max_concurrent=data.get("max_concurrent"),
                   retry_failed=bool(data.get("retry_failed")),
                   timeout_seconds=data.get("timeout_seconds"),
                   stale=data.get("stale") or "rerun",
                   resources=Resources(**(data.get("resources") or {})),
                   hooks=Hooks.from_json(data.get("hooks")),
                   base_script=data.get("base_script"),
                   runner_python=data.get("runner_python"),
                   runs_per_task=data.get("runs_per_task"), submit=bool(data.get("submit")),
                   check_config=bool(data.get("check_config", True)))
