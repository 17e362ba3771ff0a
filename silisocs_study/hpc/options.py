"""Flags shared by ``submitit`` and ``slurm-array``: resources, hooks, grouping; validation.

Every bad value is a :class:`StudyError` (one line, exit 2) raised before anything is
written or submitted.
"""
from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import StudyError
from ..numeric import gigabytes, non_negative_int, positive_int, seconds
from .hooks import Hooks

ARRAY_MODES = ("case", "seed", "hypothesis", "run")
_NAME = re.compile(r"^[^\s\x00-\x1f]+$")


def add_resource_flags(p: argparse.ArgumentParser, *, default_timeout: int | None) -> None:
    g = p.add_argument_group("Slurm resources (per job / array task)")
    g.add_argument("--job-name", default=None, help="Slurm job name (default silisocs-<study id>)")
    g.add_argument("--timeout-minutes", type=positive_int, default=default_timeout, metavar="MIN",
                   help="Slurm time limit of each job/task"
                        + (f" (default {default_timeout})" if default_timeout else
                           " (default: the script's #SBATCH --time)"))
    g.add_argument("--cpus-per-task", type=positive_int, default=None, metavar="N")
    g.add_argument("--nodes", type=positive_int, default=None, metavar="N")
    g.add_argument("--tasks-per-node", type=positive_int, default=None, metavar="N",
                   help="Slurm tasks per node (only rank 0 runs the study)")
    g.add_argument("--gpus-per-node", type=non_negative_int, default=None, metavar="N",
                   help="0: none")
    g.add_argument("--mem-gb", type=gigabytes, default=None, metavar="GB")
    g.add_argument("--partition", default=None)
    g.add_argument("--account", default=None)
    g.add_argument("--constraint", default=None)
    g.add_argument("--slurm-comment", default=None, metavar="TEXT")


def add_hook_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("job hooks (run inside each job, around the study)")
    g.add_argument("--setup-command", default=None, metavar="CMD",
                   help="bash -c CMD before anything else; must exit 0")
    g.add_argument("--server-command", default=None, metavar="CMD",
                   help="bash -c CMD in its own process group, stopped (whole group) at the end")
    g.add_argument("--server-ready-url", default=None, metavar="URL",
                   help="poll until it answers HTTP 200-499 before running the study")
    g.add_argument("--server-timeout-seconds", type=seconds, default=600.0, metavar="S",
                   help="how long to wait for the ready URL (default 600)")


def add_selection_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--array-mode", choices=ARRAY_MODES, default="case",
                   help="one job/task per (hypothesis, condition) [case], per "
                        "(hypothesis, condition, seed) [seed], per hypothesis, or per run")
    p.add_argument("--max-concurrent", type=positive_int, default=None, metavar="N",
                   help="at most N jobs/tasks of this submission run at once (array throttle)")
    p.add_argument("--retry-failed", action="store_true",
                   help="also (re)submit failed/timed-out runs (default: only runs not done)")
    p.add_argument("--timeout-seconds", type=seconds, default=None, metavar="S",
                   help="per-run timeout inside the job (the run is killed, recorded timeout)")
    p.add_argument("--workspace", default=None, metavar="DIR",
                   help="experiment specs: the folder to run in (default: claim the next)")


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


def _positive(args, name: str, flag: str, *, zero_ok: bool = False) -> None:
    value = getattr(args, name, None)
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise StudyError(f"{flag} must be {'>= 0' if zero_ok else 'a positive number'}, "
                         f"got {value:g}")


def _text(args, name: str, flag: str) -> None:
    value = getattr(args, name, None)
    if value is not None and not _NAME.match(value):
        raise StudyError(f"{flag} must be a non-empty word without spaces, got {value!r}")


def resources_from(args: argparse.Namespace, default_name: str) -> Resources:
    for name, flag in (("timeout_minutes", "--timeout-minutes"),
                       ("cpus_per_task", "--cpus-per-task"), ("nodes", "--nodes"),
                       ("tasks_per_node", "--tasks-per-node"), ("mem_gb", "--mem-gb")):
        _positive(args, name, flag)
    _positive(args, "gpus_per_node", "--gpus-per-node", zero_ok=True)
    for name, flag in (("job_name", "--job-name"), ("partition", "--partition"),
                       ("account", "--account"), ("constraint", "--constraint")):
        _text(args, name, flag)
    comment = args.slurm_comment
    if comment is not None and ("\n" in comment or "\r" in comment):
        raise StudyError("--slurm-comment must be one line")
    return Resources(job_name=args.job_name or default_name,
                     timeout_minutes=args.timeout_minutes, cpus_per_task=args.cpus_per_task,
                     nodes=args.nodes, tasks_per_node=args.tasks_per_node,
                     gpus_per_node=args.gpus_per_node or None, mem_gb=args.mem_gb,
                     partition=args.partition, account=args.account,
                     constraint=args.constraint, comment=comment)


def hooks_from(args: argparse.Namespace) -> Hooks:
    if args.server_ready_url and not args.server_command:
        raise StudyError("--server-ready-url needs --server-command (the server to wait for)")
    url = args.server_ready_url
    if url is not None and not re.match(r"^https?://[^\s]+$", url):
        raise StudyError(f"--server-ready-url must be an http(s) URL, got {url!r}")
    if args.server_timeout_seconds is None or args.server_timeout_seconds <= 0:
        raise StudyError(f"--server-timeout-seconds must be a positive number, got "
                         f"{args.server_timeout_seconds}")
    for name, flag in (("setup_command", "--setup-command"),
                       ("server_command", "--server-command")):
        value = getattr(args, name)
        if value is not None and not value.strip():
            raise StudyError(f"{flag} is empty")
    return Hooks(args.setup_command, args.server_command, url,
                 float(args.server_timeout_seconds))


def check_selection(args: argparse.Namespace) -> None:
    _positive(args, "max_concurrent", "--max-concurrent")
    _positive(args, "timeout_seconds", "--timeout-seconds")
    k = getattr(args, "runs_per_task", None)
    if k is not None:
        if k < 1:
            raise StudyError(f"--runs-per-task must be a positive number, got {k}")
        if k > 1 and args.array_mode != "run":
            raise StudyError("--runs-per-task packs runs into tasks: use it with "
                             "--array-mode run")
