"""Verb: ``re-evaluate`` (registered by cli_run): evaluate finished runs again, run nothing.

A thin adapter over :mod:`silisocs_study.launch.reevaluate`."""
from __future__ import annotations

import argparse


def add_evaluate_verbs(sub, add_common, add_filters, verb) -> None:
    """Register ``re-evaluate`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "re-evaluate",
        help="run the study's evaluators again on finished runs (success and reused), "
             "without running them; then rebuild views and reports",
        description="Evaluates the folder of every finished run (a reused run's source) with "
                    "the evaluators the plan gives its condition, or only those named with "
                    "--evaluator; replaces those evaluators' entries in each run's record "
                    "(status, fingerprint and attempt stay). Runs not finished are skipped "
                    "and counted. Exit 0: every evaluator succeeded; 1: some failed; 2: bad "
                    "input (nothing written).")
    add_common(p)
    p.add_argument("--evaluator", action="append", default=None, metavar="ID",
                   help="only this evaluator (repeatable, or a comma list); default: each "
                        "run's evaluators")
    p.add_argument("--wait", action="store_true",
                   help="if another process runs this study, wait for it instead of exit 2")
    p.add_argument("--workspace", default=None, metavar="DIR",
                   help="experiment specs: the folder to re-evaluate (default: the latest)")
    add_filters(p)
    verb("re-evaluate")(cmd_re_evaluate)


def cmd_re_evaluate(args: argparse.Namespace) -> int:
    from .launch.reevaluate import re_evaluate_command

    return re_evaluate_command(args)
