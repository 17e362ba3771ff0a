"""``python -m silisocs_study.evaluators <preset> --run-dir D --output F``: the builtin presets as a command.

``study_eval`` runs the study's own ``eval.py`` (beside the study file named by ``--study``,
else ``./eval.py``) exactly as the orchestrator does; arguments after ``--`` go to the script.

Exit codes: 0 success, 1 the evaluation failed, 2 usage error (unknown preset, missing run dir,
bad flag) — each with a one-line message on stderr, no traceback unless SILISOCS_DEBUG=1.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from .options import EvaluatorUsageError
from .registry import PRESETS, STUDY_EVAL, get_preset, preset_names, run_builtin, run_study_eval


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise EvaluatorUsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m silisocs_study.evaluators",
        description="Run a builtin evaluator on one run directory and write its JSON payload.",
        epilog="presets: " + ", ".join(preset_names()),
    )
    parser.add_argument("name", nargs="?", help="preset name, with or without the 'builtin.' prefix")
    parser.add_argument("--run-dir", type=Path, help="the run's output directory")
    parser.add_argument("--output", type=Path, help="where to write the JSON payload")
    parser.add_argument("--postprocessor", action="append", default=[], metavar="MODULE:FUNC",
                        help="probe evaluators: extra hook, module:function or path/file.py:function (repeatable)")
    parser.add_argument("--carry-forward", action="store_true", help="probe evaluators: hold last answers")
    parser.add_argument("--no-plots", action="store_true", help="skip the builtin PNG plots")
    parser.add_argument("--study", default=None, metavar="PATH",
                        help="study_eval: the study file or its folder (runs the eval.py beside "
                             "it; default ./eval.py); arguments after -- go to the script")
    parser.add_argument("--list", action="store_true", help="list presets and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    forwarded: list[str] = []
    if "--" in argv:   # study_eval: the rest goes to eval.py, as the study's static_args do
        cut = argv.index("--")
        argv, forwarded = argv[:cut], argv[cut + 1:]
    try:
        args = build_parser().parse_args(argv)
        if args.list:
            for preset in PRESETS.values():
                print(f"{preset.name:36s} {preset.output_subpath:32s} {preset.description}")
            return 0
        if not args.name:
            raise EvaluatorUsageError("missing preset name (try --list)")
        if args.run_dir is None or args.output is None:
            raise EvaluatorUsageError("--run-dir and --output are required")
        preset = get_preset(args.name)
        if preset.name == STUDY_EVAL:
            if args.postprocessor or args.carry_forward or args.no_plots:
                raise EvaluatorUsageError(f"{STUDY_EVAL} runs eval.py: give its own arguments "
                                          f"after --")
            run_study_eval(args.run_dir, args.output, args.study, forwarded)
            print(f"wrote {args.output}")
            return 0
        if args.study is not None or forwarded:
            raise EvaluatorUsageError(f"--study and arguments after -- are for {STUDY_EVAL} "
                                      f"only, not {preset.name}")
        extra: list[str] = []
        for spec in args.postprocessor:
            extra += ["--postprocessor", spec]
        if args.carry_forward:
            extra.append("--carry-forward")
        if args.no_plots:
            extra.append("--no-plots")
        run_builtin(args.name, args.run_dir, args.output, extra)
    except EvaluatorUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI reports, the exit code tells
        if os.environ.get("SILISOCS_DEBUG"):
            traceback.print_exc()
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: evaluation failed: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
