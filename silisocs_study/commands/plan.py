"""``plan``, ``generate-bash``, ``schema``: what a study will do, without running it."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from ..analysis.confseq import NAME
from ..errors import StudyError
from ..plan import Plan
from ..spec.study_v1 import python_executable

MAX_WARNINGS = 10   # plan-time warnings printed (a study reusing 50 old runs has 100)


def checked_plan(plan: Plan, *, check_config: bool, extra: Sequence[str]) -> str:
    """Print the plan-time warnings and compose the runs with their app (unless
    ``check_config`` is false); returns the check's summary line."""
    notes = list(plan.study.warnings)
    if not check_config:
        summary = ("Config check: skipped (output keys shown as ++output_dir; the app's config "
                   "decides at launch)")
    else:
        from ..launch.multirun import check_plan

        summary = check_plan(plan, python_executable(), list(extra), warnings=notes)
    print_warnings(notes)
    return summary


def print_warnings(notes: list[str]) -> None:
    for note in notes[:MAX_WARNINGS]:
        print(f"warning: {note}", file=sys.stderr)
    if len(notes) > MAX_WARNINGS:
        print(f"warning: ... and {len(notes) - MAX_WARNINGS} more like these", file=sys.stderr)


def _write(writer: Callable[[Plan, Path, str], object], plan: Plan, output: str) -> None:
    """Run a file writer; an unwritable output is a user error (exit 2), not a crash."""
    try:
        writer(plan, Path(output), python_executable())
    except IsADirectoryError:
        raise StudyError(f"--output {output}: is a directory") from None
    except OSError as exc:
        raise StudyError(f"--output {output}: cannot write: {exc.strerror or exc}") from None


def show_plan(plan: Plan, *, output: str | None, first: int, check_config: bool,
              extra: Sequence[str], seeds_needed: bool = False) -> int:
    from ..planview import describe_plan

    if seeds_needed:
        return show_seeds_needed(plan)
    checked = checked_plan(plan, check_config=check_config, extra=extra)
    if output:
        from ..planfile import write_plan_json

        _write(write_plan_json, plan, output)
    print(describe_plan(plan, first=first))
    for line in adaptive_plan_lines(plan):
        print(line)
    print(checked)
    if output:
        print(f"Plan written: {output}")
    return 0


def adaptive_plan_lines(plan: Plan) -> list[str]:
    """An adaptive study's rule per hypothesis and its next round (from the records so far):
    the plan lists the fixed design, of which the rounds run a prefix per arm."""
    study = plan.study
    if not study.adaptive:
        return []
    from ..launch.rounds import next_round
    from ..ledger import Ledger

    from ..launch.decide import decide

    records = Ledger(study.generated).all()
    rnd = next_round(plan, records.values())
    todo = decide(rnd.runs, records).launch
    lines = [f"Adaptive seeds: the runs above are the fixed design; each arm runs a prefix of "
             f"its seeds, round by round ({NAME})."]
    for hyp, one in study.adaptive.items():
        cap = one.max_seeds or "every seed listed"
        arms = "per condition × scenario" if one.per_scenario or one.goal != "decide" else \
            "per condition (scenarios in step)"
        lines.append(f"  {hyp}: {one.goal_text()} on {one.metric}; arms {arms}; "
                     f"min_seeds {one.min_seeds}, max_seeds {cap}, round_size {one.round_size}")
    lines.append(f"  now: {rnd.line()}" + (f"; it would launch {len(todo)} run(s)" if todo
                                            else "; nothing left to launch"))
    return lines


def show_seeds_needed(plan: Plan) -> int:
    """How many seeds each hypothesis needs, from the spread of the runs recorded so far."""
    from ..report.seed_plan import current_decisions, seed_lines

    decisions = current_decisions(plan.study)
    lines = seed_lines(decisions)
    if not lines:
        print(f"No records yet in {plan.study.generated / 'records'}: seeds needed come from "
              f"the spread of finished runs; run a few seeds first (e.g. the study with "
              f"--only-seed), then ask again.")
        return 0
    print("Seeds needed (per condition × scenario, from the records so far):")
    for line in lines:
        print(line)
    return 0


def generate_bash(plan: Plan, *, output: str, check_config: bool, extra: Sequence[str]) -> int:
    from ..bashgen import write_script

    checked = checked_plan(plan, check_config=check_config, extra=extra)
    _write(write_script, plan, output)
    print(checked)
    print(f"Wrote {output} ({sum(1 for r in plan.runs if r.reuse is None)} command(s), "
          f"{sum(1 for r in plan.runs if r.reuse is not None)} reuse comment(s))")
    return 0


def schema(which: str) -> int:
    from ..spec.schema import json_schema

    print(json.dumps(json_schema(which), indent=2))
    return 0
