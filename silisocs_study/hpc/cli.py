"""Verbs ``submitit``, ``slurm-array`` and the hidden ``task`` (what array jobs run)."""
from __future__ import annotations

import argparse

from ..numeric import non_negative_int, positive_int
from .options import add_hook_flags, add_resource_flags, add_selection_flags


def add_hpc_verbs(sub, add_common, add_filters, verb) -> None:
    p = sub.add_parser(
        "submitit", help="submit one Slurm job per group with submitit, then return",
        description="Each job runs `run` for its group (group filters AND every user "
                    "filter) between the hooks. Extra Hydra overrides for every run go "
                    "after '--'.")
    add_common(p)
    add_selection_flags(p)
    p.add_argument("--stale", choices=("rerun", "skip", "error"), default="rerun",
                   help="completed runs whose plan changed (default: rerun)")
    p.add_argument("--folder", default=None, metavar="DIR",
                   help="submitit folder (default <generated>/submitit)")
    p.add_argument("--dry-run", action="store_true", help="print the jobs, submit nothing")
    p.add_argument("--wait", action="store_true",
                   help="if another process runs this study, wait for it instead of exit 2")
    add_resource_flags(p, default_timeout=60)
    add_hook_flags(p)
    add_filters(p)

    p = sub.add_parser(
        "slurm-array", help="submit the runs still to do as a Slurm job array",
        description="Writes <generated>/slurm/<id>/{plan.json,tasks.json,env.sh,sbatch.sh}; "
                    "each array task runs only its own runs. Extra Hydra overrides for every "
                    "run go after '--'.")
    add_common(p)
    add_selection_flags(p)
    p.add_argument("--stale", choices=("rerun", "skip", "error"), default="rerun",
                   help="completed runs whose plan changed (default: rerun)")
    p.add_argument("--base-script", default=None, metavar="FILE",
                   help="sbatch script run per task with args: SUBMISSION_DIR OFFSET "
                        "(default slurm_scripts/study-array-template.sh)")
    p.add_argument("--runner-python", default=None, metavar="PYTHON",
                   help="interpreter that runs `-m silisocs_study task` (default: this one)")
    p.add_argument("--runs-per-task", type=positive_int, default=None, metavar="K",
                   help="with --array-mode run: pack K runs into each task")
    p.add_argument("--submit", action="store_true",
                   help="submit (default: write the files and print the sbatch command)")
    p.add_argument("--wait", action="store_true",
                   help="if another process runs this study, wait for it instead of exit 2")
    p.add_argument("--skip-config-check", action="store_true",
                   help="do not compose the runs with their app before writing the tasks "
                        "(the check also decides the output key, e.g. output_rootname)")
    add_resource_flags(p, default_timeout=None)
    add_hook_flags(p)
    add_filters(p)

    p = sub.add_parser("task")  # no help: hidden from the verb list (array jobs run it)
    p.add_argument("--submission", required=True, metavar="DIR")
    p.add_argument("--index", type=non_negative_int, default=None,
                   help="task index (default: OFFSET + $SLURM_ARRAY_TASK_ID)")
    p.add_argument("--offset", type=non_negative_int, default=0)
    p.add_argument("--finalize", action="store_true",
                   help="after the array: reconcile with Slurm and rebuild the views")

    verb("submitit")(cmd_submitit)
    verb("slurm-array")(cmd_slurm_array)
    verb("task")(cmd_task)


def cmd_submitit(args: argparse.Namespace) -> int:
    from .submitit_cmd import cmd_submitit as run

    return run(args)


def cmd_slurm_array(args: argparse.Namespace) -> int:
    from .slurm_array import cmd_slurm_array as run

    return run(args)


def cmd_task(args: argparse.Namespace) -> int:
    from .task import main_task

    return main_task(args)
