"""``silisocs-sweep`` / ``python -m silisocs_study``: the argparse front door.

Each verb is a thin adapter: parse flags, call the core (planner, launcher, ledger, reports),
print. Heavy modules are imported inside the handlers so ``plan`` starts fast.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import COMMAND
from .errors import StudyError

_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {}
MAX_WARNINGS = 10   # plan-time warnings printed (a study reusing 50 old runs has 100)


def verb(name: str):
    def register(fn):
        _HANDLERS[name] = fn
        return fn
    return register


def _add_filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (comma lists, ANDed)")
    g.add_argument("--only-hypothesis", action="append", metavar="IDS")
    g.add_argument("--only-condition", action="append", metavar="IDS")
    g.add_argument("--only-sub-experiment", action="append", metavar="IDS")
    g.add_argument("--only-seed", action="append", metavar="SEEDS")
    g.add_argument("--only-run-id", action="append", metavar="IDS")


def _add_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-config-check", action="store_true",
                   help="do not compose the runs' configs with their app first (the check "
                        "starts each app once; it also decides the output key, e.g. "
                        "output_rootname for silisocs)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", default=argparse.SUPPRESS,
                   help="study.yaml, its directory, or an experiment spec (FILE#NAME)")
    p.add_argument("--repo-root", default=argparse.SUPPRESS,
                   help="root for relative paths and the cwd of runs (default: .)")


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

    p = sub.add_parser("plan", help="validate and expand the study; print a summary")
    _add_common(p)
    p.add_argument("--output", help="also write the plan as JSON to this file")
    p.add_argument("--first", type=int, default=10, help="how many runs to list (default 10)")
    _add_check(p)
    _add_filters(p)

    p = sub.add_parser("generate-bash", help="write a bash script that replays the plan")
    _add_common(p)
    p.add_argument("--output", required=True, help="script to write")
    _add_check(p)
    _add_filters(p)

    p = sub.add_parser("schema", help="print the JSON Schema of both study formats")
    p.add_argument("--format", choices=("study", "experiment", "both"), default="both")

    from .cli_run import add_run_verbs

    add_run_verbs(sub, _add_common, _add_filters)
    return parser


def filters_from(args: argparse.Namespace):
    from .plan import Filters

    return Filters.parse(hypothesis=args.only_hypothesis, condition=args.only_condition,
                         sub_experiment=args.only_sub_experiment, seed=args.only_seed,
                         run_id=args.only_run_id)


def load_plan(args: argparse.Namespace, *, filtered: bool = True):
    """Load, validate and expand the study named by ``--study`` (error if missing)."""
    from .plan import build_plan
    from .spec import load_study

    if not getattr(args, "study", None):
        raise StudyError("--study PATH is required")
    study = load_study(args.study, getattr(args, "repo_root", None))
    from .extra_overrides import fold_extra_overrides

    study.warnings += fold_extra_overrides(study, getattr(args, "hydra_overrides", None) or [])
    return build_plan(study, filters_from(args) if filtered else None)


def checked_plan(args: argparse.Namespace):
    """``load_plan`` + the plan-time warnings + the composition check (unless skipped).
    Returns (plan, the check's summary line or a note that it was skipped)."""
    plan = load_plan(args)
    notes = list(plan.study.warnings)
    if getattr(args, "skip_config_check", False):
        summary = ("Config check: skipped (output keys shown as ++output_dir; the app's config "
                   "decides at launch)")
    else:
        from .launch.multirun import check_plan

        summary = check_plan(plan, python_for_runs(), list(args.hydra_overrides), warnings=notes)
    for note in notes[:MAX_WARNINGS]:
        print(f"warning: {note}", file=sys.stderr)
    if len(notes) > MAX_WARNINGS:
        print(f"warning: ... and {len(notes) - MAX_WARNINGS} more like these", file=sys.stderr)
    return plan, summary


def python_for_runs() -> str:
    from .spec.study_v1 import python_executable

    return python_executable()


def _write(writer, plan, output: str) -> None:
    """Run a file writer; an unwritable --output is a user error (exit 2), not a crash."""
    try:
        writer(plan, Path(output), python_for_runs())
    except IsADirectoryError:
        raise StudyError(f"--output {output}: is a directory") from None
    except OSError as exc:
        raise StudyError(f"--output {output}: cannot write: {exc.strerror or exc}") from None


@verb("plan")
def cmd_plan(args: argparse.Namespace) -> int:
    from .planview import describe_plan

    plan, checked = checked_plan(args)
    if args.output:
        from .plan import write_plan_json

        _write(write_plan_json, plan, args.output)
    print(describe_plan(plan, first=args.first))
    print(checked)
    if args.output:
        print(f"Plan written: {args.output}")
    return 0


@verb("generate-bash")
def cmd_generate_bash(args: argparse.Namespace) -> int:
    from .bashgen import write_script

    plan, checked = checked_plan(args)
    _write(write_script, plan, args.output)
    print(checked)
    print(f"Wrote {args.output} ({sum(1 for r in plan.runs if r.reuse is None)} command(s), "
          f"{sum(1 for r in plan.runs if r.reuse is not None)} reuse comment(s))")
    return 0


@verb("schema")
def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from .spec.schema import json_schema

    print(json.dumps(json_schema(args.format), indent=2))
    return 0


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
    parser = build_parser()
    args = parser.parse_args(argv)
    args.hydra_overrides = extra
    try:
        return _HANDLERS[args.verb](args)
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
