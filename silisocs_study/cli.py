"""``silisocs-sweep`` / ``python -m silisocs_study``: the only module that reads flags.

Each verb is a row of :data:`VERBS`: its flags (``add``) and an adapter that turns the
parsed flags into typed values (:class:`~silisocs_study.plan.Filters`,
:class:`~silisocs_study.options.LaunchOptions`, a plan or workspace opened through
:mod:`silisocs_study.workspace`) and calls a plain function of
:mod:`silisocs_study.commands` (or the HPC package). Heavy modules are imported inside the
adapters so ``plan`` starts fast. A user error is one line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, NamedTuple, Sequence

from .constants import COMMAND
from .errors import StudyError
from .numeric import MAX_COUNT, MAX_MEM_GB, MAX_SECONDS, count_problem, number_problem
from .options import LAUNCHERS, STALE_POLICIES

Args = argparse.Namespace


# -- numbers: a bad one is a one-line error before the verb does anything ------------------------

class BadNumber:
    """What a number flag's type returns for a value it refuses (see _check_numbers)."""

    __slots__ = ("text", "problem")

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem

    def __repr__(self) -> str:
        return f"<refused {self.text!r}: {self.problem}>"


def _number_type(convert: Callable[[str], Any], check: Callable[[Any], str | None],
                 what: str) -> Callable[[str], Any]:
    """An argparse type: the number ``convert`` reads, or a BadNumber saying what is wrong."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            return BadNumber(text, f"must be {what}, got {text!r}")
        problem = check(value)
        return BadNumber(text, problem) if problem else value

    parse.__name__ = what.replace(" ", "_")   # argparse names the type in some messages
    return parse


def _int_type(minimum: int, maximum: int, what: str) -> Callable[[str], Any]:
    return _number_type(int, lambda v: count_problem(v, minimum=minimum, maximum=maximum),
                        what)


def _float_type(maximum: float, what: str) -> Callable[[str], Any]:
    return _number_type(float, lambda v: number_problem(v, maximum=maximum, what=what), what)


#: 1, 2, ... (jobs, CPUs, nodes, batch sizes, runs per task, minutes)
positive_int = _int_type(1, MAX_COUNT, "a positive integer")
#: 0, 1, ... where 0 means "none" (retries, GPUs) or is a valid index
non_negative_int = _int_type(0, MAX_COUNT, "an integer >= 0")
#: seconds: a finite number above 0, at most MAX_SECONDS
seconds = _float_type(MAX_SECONDS, "a positive number of seconds")
#: gigabytes of memory
gigabytes = _float_type(MAX_MEM_GB, "a positive number of GB")


def _check_numbers(args: Args) -> None:
    """Raise the StudyError of the first refused number among the parsed flags."""
    for dest, value in vars(args).items():
        if isinstance(value, BadNumber):
            raise StudyError(f"--{dest.replace('_', '-')} {value.problem}")


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Any other bad flag (an unknown choice, a missing value) is one line, exit 2."""

    def error(message: str) -> Any:
        text = f"{parser.prog}: {message} (see --help)".replace("\n", " ")
        print(f"error: {text}", file=sys.stderr)
        sys.exit(2)

    parser.error = error   # type: ignore[method-assign]


# -- shared flag groups --------------------------------------------------------------------------

def _filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (comma lists, ANDed)")
    g.add_argument("--only-hypothesis", action="append", metavar="IDS")
    g.add_argument("--only-condition", action="append", metavar="IDS")
    g.add_argument("--only-sub-experiment", action="append", metavar="IDS")
    g.add_argument("--only-seed", action="append", metavar="SEEDS")
    g.add_argument("--only-run-id", action="append", metavar="IDS")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", default=argparse.SUPPRESS,
                   help="study.yaml, its directory, or an experiment spec (FILE#NAME)")
    p.add_argument("--repo-root", default=argparse.SUPPRESS,
                   help="root for relative paths and the cwd of runs (default: .)")


def _check(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-config-check", action="store_true",
                   help="do not compose the runs' configs with their app first (the check "
                        "starts each app once; it also decides the output key, e.g. "
                        "output_rootname for silisocs)")


def _workspace(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--workspace", default=None, metavar="DIR",
                   help=f"experiment specs: {what}")


def _wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true",
                   help="if another process runs this study, wait for it instead of exit 2")


def _stale(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stale", choices=STALE_POLICIES, default="rerun",
                   help="completed runs whose plan changed (default: rerun)")


# -- from flags to typed values ------------------------------------------------------------------

def filters_from(args: Args):
    from .plan import Filters

    return Filters.parse(hypothesis=args.only_hypothesis, condition=args.only_condition,
                         sub_experiment=args.only_sub_experiment, seed=args.only_seed,
                         run_id=args.only_run_id)


def _study(args: Args) -> str:
    if not getattr(args, "study", None):
        raise StudyError("--study PATH is required")
    return args.study


def _plan(args: Args, *, filtered: bool = True, require_records: bool = False):
    from .workspace import open_plan

    return open_plan(_study(args), getattr(args, "repo_root", None),
                     filters=filters_from(args) if filtered else None,
                     workspace=getattr(args, "workspace", None),
                     extra_overrides=args.extra_overrides, require_records=require_records)


def launch_options(args: Args):
    from .options import LaunchOptions

    return LaunchOptions(launcher=args.launcher, max_concurrent=args.max_concurrent,
                         batch_size=args.batch_size, timeout_seconds=args.timeout_seconds,
                         force=args.force, retry_failed=args.retry_failed,
                         max_retries=args.max_retries, stale=args.stale,
                         fail_fast=args.fail_fast, progress=not args.no_progress,
                         extra_overrides=tuple(args.extra_overrides),
                         check_config=not args.skip_config_check)


def submit_options(args: Args):
    from .hpc.options import Resources, SubmitOptions, checked_hooks, checked_resources

    resources = checked_resources(Resources(
        job_name=args.job_name, timeout_minutes=args.timeout_minutes,
        cpus_per_task=args.cpus_per_task, nodes=args.nodes,
        tasks_per_node=args.tasks_per_node, gpus_per_node=args.gpus_per_node,
        mem_gb=args.mem_gb, partition=args.partition, account=args.account,
        constraint=args.constraint, comment=args.slurm_comment))
    hooks = checked_hooks(args.setup_command, args.server_command, args.server_ready_url,
                          args.server_timeout_seconds)
    return SubmitOptions(
        study=_study(args), repo_root=getattr(args, "repo_root", None),
        filters=filters_from(args), workspace=args.workspace,
        extra_overrides=tuple(args.extra_overrides), wait=args.wait,
        array_mode=args.array_mode, max_concurrent=args.max_concurrent,
        retry_failed=args.retry_failed, timeout_seconds=args.timeout_seconds,
        stale=args.stale, resources=resources, hooks=hooks,
        dry_run=getattr(args, "dry_run", False), folder=getattr(args, "folder", None),
        base_script=getattr(args, "base_script", None),
        runner_python=getattr(args, "runner_python", None),
        runs_per_task=getattr(args, "runs_per_task", None),
        submit=getattr(args, "submit", False),
        check_config=not getattr(args, "skip_config_check", False))


# -- the verbs -----------------------------------------------------------------------------------

def _add_plan(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--output", help="also write the plan as JSON to this file")
    p.add_argument("--first", type=int, default=10, help="how many runs to list (default 10)")
    p.add_argument("--seeds-needed", action="store_true",
                   help="from the records so far: seeds per condition × scenario each "
                        "hypothesis needs (the analysis: block's δ and α)")
    _check(p)
    _filters(p)


def _do_plan(args: Args) -> int:
    from .commands.plan import show_plan

    return show_plan(_plan(args, filtered=not args.seeds_needed), output=args.output,
                     first=args.first, check_config=not args.skip_config_check,
                     extra=args.extra_overrides, seeds_needed=args.seeds_needed)


def _add_generate_bash(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--output", required=True, help="script to write")
    _check(p)
    _filters(p)


def _do_generate_bash(args: Args) -> int:
    from .commands.plan import generate_bash

    return generate_bash(_plan(args), output=args.output,
                         check_config=not args.skip_config_check, extra=args.extra_overrides)


def _add_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("study", "experiment", "both"), default="both")


def _do_schema(args: Args) -> int:
    from .commands.plan import schema

    return schema(args.format)


def _add_run(p: argparse.ArgumentParser) -> None:
    _common(p)
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
    _stale(p)
    p.add_argument("--fail-fast", action="store_true", help="stop after the first failure")
    p.add_argument("--skip-config-check", action="store_true",
                   help="with several apps (config paths, runner modules, exact commands), do "
                        "not compose them all before the first run starts")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="jobs per launcher batch (default 50; submitit_local: max-concurrent)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before large runs")
    _wait(p)
    p.add_argument("--no-progress", action="store_true", help="plain output, no live display")
    _workspace(p, "run in this folder (default: continue the latest folder while its runs "
                  "are not all complete, else a new {seq} folder)")
    p.add_argument("--new", action="store_true",
                   help="experiment specs: start a new {seq} folder even if the latest one "
                        "is unfinished")
    _filters(p)


def _do_run(args: Args) -> int:
    from .commands.run import run
    from .workspace import open_workspace

    options = launch_options(args)
    workspace = open_workspace(_study(args), getattr(args, "repo_root", None),
                               filters=filters_from(args), workspace=args.workspace,
                               extra_overrides=options.extra_overrides, new=args.new)
    return run(workspace, options, dry_run=args.dry_run, yes=args.yes, wait=args.wait)


def _add_status(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _workspace(p, "the folder to report on (default: the latest)")
    _filters(p)


def _do_status(args: Args) -> int:
    from .commands.status import status

    return status(_plan(args), as_json=args.json)


def _add_organize(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be organized, write nothing")
    _workspace(p, "the folder to organize (default: the latest)")


def _do_organize(args: Args) -> int:
    from .commands.report import organize

    return organize(_plan(args, filtered=False, require_records=True), dry_run=args.dry_run)


def _add_report(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--metric", default=None, metavar="EVAL.METRIC",
                   help="metric to plot in every panel, e.g. "
                        "action_metrics.interactive_actions_per_agent (default: each "
                        "hypothesis' key metric)")
    p.add_argument("--show", action="store_true",
                   help="open the reports when a display is available (else list them)")
    _workspace(p, "the folder to report on (default: the latest)")


def _do_report(args: Args) -> int:
    from .commands.report import report

    return report(_plan(args, filtered=False, require_records=True), metric=args.metric,
                  show=args.show)


def _add_summary_append(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--author", required=True)
    p.add_argument("--note", required=True)
    p.add_argument("--hypothesis", default=None, help="hypothesis id the note is about")
    p.add_argument("--condition", default=None, help="condition id the note is about")
    p.add_argument("--evidence", action="append", default=[], metavar="PATH",
                   help="a file backing the note (repeatable; recorded as given)")


def _do_summary_append(args: Args) -> int:
    from .commands.report import summary_append

    return summary_append(_plan(args, filtered=False, require_records=True),
                          author=args.author, note=args.note, hypothesis=args.hypothesis,
                          condition=args.condition, evidence=args.evidence)


def _add_re_evaluate(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--evaluator", action="append", default=None, metavar="ID",
                   help="only this evaluator (repeatable, or a comma list); default: each "
                        "run's evaluators")
    _wait(p)
    _workspace(p, "the folder to re-evaluate (default: the latest)")
    _filters(p)


def _do_re_evaluate(args: Args) -> int:
    from .commands.evaluate import re_evaluate_plan

    return re_evaluate_plan(_plan(args, require_records=True), args.evaluator,
                            wait=args.wait).exit_code


def _resources(p: argparse.ArgumentParser, *, default_timeout: int | None) -> None:
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


def _hooks(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("job hooks (run inside each job, around the study)")
    g.add_argument("--setup-command", default=None, metavar="CMD",
                   help="bash -c CMD before anything else; must exit 0")
    g.add_argument("--server-command", default=None, metavar="CMD",
                   help="bash -c CMD in its own process group, stopped (whole group) at the end")
    g.add_argument("--server-ready-url", default=None, metavar="URL",
                   help="poll until it answers HTTP 200-499 before running the study")
    g.add_argument("--server-timeout-seconds", type=seconds, default=600.0, metavar="S",
                   help="how long to wait for the ready URL (default 600)")


def _selection(p: argparse.ArgumentParser) -> None:
    from .hpc.options import ARRAY_MODES

    p.add_argument("--array-mode", choices=ARRAY_MODES, default="case",
                   help="one job/task per (hypothesis, condition) [case], per "
                        "(hypothesis, condition, seed) [seed], per hypothesis, or per run")
    p.add_argument("--max-concurrent", type=positive_int, default=None, metavar="N",
                   help="at most N jobs/tasks of this submission run at once (array throttle)")
    p.add_argument("--retry-failed", action="store_true",
                   help="also (re)submit failed/timed-out runs (default: only runs not done)")
    p.add_argument("--timeout-seconds", type=seconds, default=None, metavar="S",
                   help="per-run timeout inside the job (the run is killed, recorded timeout)")
    _workspace(p, "the folder to run in (default: claim the next)")


def _add_submitit(p: argparse.ArgumentParser) -> None:
    _common(p)
    _selection(p)
    _stale(p)
    p.add_argument("--folder", default=None, metavar="DIR",
                   help="submitit folder (default <generated>/submitit)")
    p.add_argument("--dry-run", action="store_true", help="print the jobs, submit nothing")
    _wait(p)
    _resources(p, default_timeout=60)
    _hooks(p)
    _filters(p)


def _do_submitit(args: Args) -> int:
    from .hpc.submitit_cmd import submit_groups

    return submit_groups(submit_options(args))


def _add_slurm_array(p: argparse.ArgumentParser) -> None:
    _common(p)
    _selection(p)
    _stale(p)
    p.add_argument("--base-script", default=None, metavar="FILE",
                   help="sbatch script run per task with args: SUBMISSION_DIR OFFSET "
                        "(default slurm_scripts/study-array-template.sh)")
    p.add_argument("--runner-python", default=None, metavar="PYTHON",
                   help="interpreter that runs `-m silisocs_study task` (default: this one)")
    p.add_argument("--runs-per-task", type=positive_int, default=None, metavar="K",
                   help="with --array-mode run: pack K runs into each task")
    p.add_argument("--submit", action="store_true",
                   help="submit (default: write the files and print the sbatch command)")
    _wait(p)
    p.add_argument("--skip-config-check", action="store_true",
                   help="do not compose the runs with their app before writing the tasks "
                        "(the check also decides the output key, e.g. output_rootname)")
    _resources(p, default_timeout=None)
    _hooks(p)
    _filters(p)


def _do_slurm_array(args: Args) -> int:
    from .hpc.slurm_array import submit_array

    return submit_array(submit_options(args))


def _add_task(p: argparse.ArgumentParser) -> None:
    p.add_argument("--submission", required=True, metavar="DIR")
    p.add_argument("--index", type=non_negative_int, default=None,
                   help="task index (default: OFFSET + $SLURM_ARRAY_TASK_ID)")
    p.add_argument("--offset", type=non_negative_int, default=0)
    p.add_argument("--finalize", action="store_true",
                   help="after the array: reconcile with Slurm and rebuild the views")


def _do_task(args: Args) -> int:
    from pathlib import Path

    from .hpc.task import run_task

    return run_task(Path(args.submission), index=args.index, offset=args.offset,
                    finalize_only=args.finalize)


class Verb(NamedTuple):
    name: str
    help: str | None            # None: hidden from the verb list
    add: Callable[[argparse.ArgumentParser], None]
    do: Callable[[Args], int]
    description: str | None = None


EXTRA = "Extra Hydra overrides for every run go after '--'."
VERBS: tuple[Verb, ...] = (
    Verb("plan", "validate and expand the study; print a summary", _add_plan, _do_plan),
    Verb("generate-bash", "write a bash script that replays the plan", _add_generate_bash,
         _do_generate_bash),
    Verb("schema", "print the JSON Schema of both study formats", _add_schema, _do_schema),
    Verb("run", "run the study as Hydra jobs (resumes; skips finished runs)", _add_run, _do_run,
         EXTRA),
    Verb("status", "counts per hypothesis × condition, failures, stale runs", _add_status,
         _do_status),
    Verb("organize", "rebuild every view from the records: lock/index files and "
                     "generated/organized/ (with statistics)", _add_organize, _do_organize),
    Verb("report", "write generated/reports/summary.md, comparison.png and study.xlsx from all "
                   "records", _add_report, _do_report),
    Verb("summary-append", "append a note to the study's SUMMARY.md and summary_log.jsonl",
         _add_summary_append, _do_summary_append),
    Verb("submitit", "submit one Slurm job per group with submitit, then return", _add_submitit,
         _do_submitit, "Each job runs `run` for its group (group filters AND every user "
                       "filter) between the hooks. " + EXTRA),
    Verb("slurm-array", "submit the runs still to do as a Slurm job array", _add_slurm_array,
         _do_slurm_array, "Writes <generated>/slurm/<id>/{plan.json,tasks.json,env.sh,"
                          "sbatch.sh}; each array task runs only its own runs. " + EXTRA),
    Verb("task", None, _add_task, _do_task),
    Verb("re-evaluate", "run the study's evaluators again on finished runs (success and "
                        "reused), without running them; then rebuild views and reports",
         _add_re_evaluate, _do_re_evaluate,
         "Evaluates the folder of every finished run (a reused run's source) with the "
         "evaluators the plan gives its condition, or only those named with --evaluator; "
         "replaces those evaluators' entries in each run's record (status, fingerprint and "
         "attempt stay). Runs not finished are skipped and counted. Exit 0: every evaluator "
         "succeeded; 1: some failed; 2: bad input (nothing written)."),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Plan, run, record, evaluate and report studies of Hydra runs.")
    parser.add_argument("--study", help="study.yaml, its directory, or an experiment spec "
                                        "(FILE or FILE#NAME)")
    parser.add_argument("--repo-root", help="root for relative paths and the cwd of runs "
                                            "(default: the current directory)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        kw: dict[str, Any] = {"description": verb.description}
        if verb.help is not None:
            kw["help"] = verb.help
        p = sub.add_parser(verb.name, **kw)
        verb.add(p)
        _one_line_errors(p)
    return parser


def _one_line_error(exc: StudyError) -> int:
    # one line, always: a key or value from the spec may hold a newline
    text = exc.format().replace("\r", "\\r").replace("\n", "\\n")
    print(f"error: {text}", file=sys.stderr)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    args.extra_overrides = extra
    handlers = {v.name: v.do for v in VERBS}
    try:
        _check_numbers(args)
        return handlers[args.verb](args)
    except StudyError as exc:   # StorageError too: disk full, read-only... (exit 1, or 2)
        return _one_line_error(exc)
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # last resort: a storage failure nobody named (disk full, quota, read-only) is still
        # the user's to fix, so one line, not a traceback; any other OSError is a bug
        from .errors import as_storage_error

        study = getattr(args, "study", None)
        storage = as_storage_error(exc, f"the files of study {study}" if study else
                                   "the study's files")
        if storage is None:
            raise
        return _one_line_error(storage)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
