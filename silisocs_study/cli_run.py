"""Verbs that execute and inspect studies: run, status (more are added by later modules)."""
from __future__ import annotations

import argparse

from .numeric import checked, non_negative_int, one_line_errors, positive_int, seconds

LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm")


def add_run_verbs(sub, add_common, add_filters) -> None:
    from .cli import verb as register

    def verb(name: str):   # each verb checks its numeric flags first (exit 2, one line)
        return lambda handler: register(name)(checked(handler))

    p = sub.add_parser("run", help="run the study as Hydra jobs (resumes; skips finished runs)",
                       description="Extra Hydra overrides for every run go after '--'.")
    add_common(p)
    p.add_argument("--launcher", choices=LAUNCHERS, default="basic")
    p.add_argument("--max-concurrent", type=positive_int, default=None, metavar="N",
                   help="parallel jobs (joblib workers, submitit batch, Slurm array throttle)")
    p.add_argument("--timeout-seconds", type=seconds, default=None, metavar="S",
                   help="per-run timeout (the job is killed and recorded as timeout)")
    p.add_argument("--dry-run", action="store_true",
                   help="write generated/plan.json and generated/run_study.sh, run nothing")
    p.add_argument("--force", action="store_true", help="re-run completed runs too")
    p.add_argument("--retry-failed", action="store_true", help="re-run failed/timed-out runs")
    p.add_argument("--max-retries", type=non_negative_int, default=0, metavar="N",
                   help="automatic retries of crashed/timed-out runs within this invocation "
                        "(default 0: none)")
    p.add_argument("--stale", choices=("rerun", "skip", "error"), default="rerun",
                   help="completed runs whose plan changed (default: rerun)")
    p.add_argument("--fail-fast", action="store_true", help="stop after the first failure")
    p.add_argument("--skip-config-check", action="store_true",
                   help="with several apps (config paths, runner modules, exact commands), do "
                        "not compose them all before the first run starts")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="jobs per launcher batch (default 50; submitit_local: max-concurrent)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before large runs")
    p.add_argument("--wait", action="store_true",
                   help="if another process runs this study, wait for it instead of exit 2")
    p.add_argument("--no-progress", action="store_true", help="plain output, no live display")
    p.add_argument("--workspace", default=None, metavar="DIR",
                   help="experiment specs: run in this folder (default: continue the latest "
                        "folder while its runs are not all complete, else a new {seq} folder)")
    p.add_argument("--new", action="store_true",
                   help="experiment specs: start a new {seq} folder even if the latest one "
                        "is unfinished")
    add_filters(p)

    p = sub.add_parser("status", help="counts per hypothesis × condition, failures, stale runs")
    add_common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--workspace", default=None, metavar="DIR",
                   help="experiment specs: the folder to report on (default: the latest)")
    add_filters(p)

    verb("run")(cmd_run)
    verb("status")(cmd_status)

    try:  # verbs contributed by the reports and HPC modules
        from .report.cli import add_report_verbs
    except ImportError:
        pass
    else:
        add_report_verbs(sub, add_common, add_filters, verb)
    try:
        from .hpc.cli import add_hpc_verbs
    except ImportError:
        pass
    else:
        add_hpc_verbs(sub, add_common, add_filters, verb)
    try:
        from .cli_evaluate import add_evaluate_verbs
    except ImportError:
        pass
    else:
        add_evaluate_verbs(sub, add_common, add_filters, verb)
    for parser in sub.choices.values():   # every verb: a bad flag is one line, exit 2
        one_line_errors(parser)


def cmd_run(args: argparse.Namespace) -> int:
    from .launch.runner import run_study

    return run_study(args)


def cmd_status(args: argparse.Namespace) -> int:
    from .launch.status import print_status

    return print_status(args)
