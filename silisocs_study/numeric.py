"""Numbers from users, checked once: argparse flag types, study-file bounds, the run limit.

Every bad number is a one-line error with exit code 2, found before anything is written:

- counts (``--batch-size``, ``--max-concurrent``, ``--cpus-per-task``, ...) are integers
  from 1 to :data:`MAX_COUNT`; a few count "how many extra" and accept 0 (``--max-retries``,
  ``--gpus-per-node``, task ``--index``/``--offset``).
- durations and sizes (``--timeout-seconds``, ``timeout_seconds:``, ``--mem-gb``, ...) are
  finite numbers above 0 and at most a bound (``nan``, ``inf`` and ``-1`` are refused).
- values that reach Hydra, JSON records and fingerprints (override and axis values) must be
  carried exactly: integers in the signed 64-bit range, finite floats.
- a study may expand to at most :func:`run_limit` runs (``SILISOCS_STUDY_MAX_RUNS``).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Callable

from .errors import StudyError

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
MAX_COUNT = 2 ** 31 - 1          # what Slurm, joblib and C ints take
MAX_SECONDS = 1e9                # ~31 years; larger timeouts overflow OS waits
MAX_MEM_GB = 2 ** 31 / 1024      # Slurm's --mem is an int of MB
RUN_LIMIT_ENV = "SILISOCS_STUDY_MAX_RUNS"
DEFAULT_RUN_LIMIT = 1_000_000   # ~30 s and ~1 GB to plan on a 2-core machine; raise it with the env var


# -- plain checks (None: fine; else the problem, to be put in a located error) --------------

def count_problem(value: Any, *, minimum: int = 1, maximum: int = MAX_COUNT) -> str | None:
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be {what}, got {value!r}"
    if value < minimum:
        return f"must be {what}, got {value}"
    if value > maximum:
        return f"must be at most {maximum:,}, got {value:,}"
    return None


def number_problem(value: Any, *, maximum: float, what: str = "a positive number"
                   ) -> str | None:
    """A finite number above 0 and at most ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be {what}, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be {what}, got {value:g} (not a finite number)"
    if value <= 0:
        return f"must be {what}, got {_show(value)}"
    if value > maximum:
        return f"must be at most {_show(maximum)}, got {_show(value)}"
    return None


def _show(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{int(value):,}"
    return f"{value:g}" if isinstance(value, float) else f"{value:,}"


def uncarried(value: Any) -> str | None:
    """Why ``value`` (an override or axis value, possibly nested) cannot be passed to Hydra
    and recorded in JSON exactly, else None. Nesting is bounded by the YAML loader."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return (f"{item!r} is not a finite number (JSON records cannot carry it); "
                        f"quote it to pass a string")
        elif isinstance(item, int) and not isinstance(item, bool):
            if not INT64_MIN <= item <= INT64_MAX:
                return f"integer {item} does not fit in 64 bits"
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def run_limit() -> int:
    """Most runs a study may expand to: $SILISOCS_STUDY_MAX_RUNS, else 1,000,000."""
    text = os.environ.get(RUN_LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_RUN_LIMIT
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise StudyError(f"${RUN_LIMIT_ENV} must be a positive integer, got {text!r}")
    return value


def run_limit_hint() -> str:
    return f"set {RUN_LIMIT_ENV} to raise the limit"


# -- argparse types -------------------------------------------------------------------------
#
# A bad number does not stop argparse (which would print its usage block and exit from inside
# the parser): the type returns a BadNumber, and check_flags() turns the first one into the
# usual one-line StudyError (exit 2) before the verb does anything.

class BadNumber:
    """What an argparse type returns for a value it refuses (see check_flags)."""

    __slots__ = ("text", "problem")

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem

    def __repr__(self) -> str:
        return f"<refused {self.text!r}: {self.problem}>"


def _int_type(minimum: int, maximum: int, what: str) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = int(text)
        except ValueError:
            return BadNumber(text, f"must be {what}, got {text!r}")
        problem = count_problem(value, minimum=minimum, maximum=maximum)
        return BadNumber(text, problem) if problem else value

    parse.__name__ = what.replace(" ", "_")   # argparse names the type in some messages
    return parse


def _number_type(maximum: float, what: str) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = float(text)
        except ValueError:
            return BadNumber(text, f"must be {what}, got {text!r}")
        problem = number_problem(value, maximum=maximum, what=what)
        return BadNumber(text, problem) if problem else value

    parse.__name__ = what.replace(" ", "_")
    return parse


#: 1, 2, ... (jobs, CPUs, nodes, batch sizes, runs per task, minutes)
positive_int = _int_type(1, MAX_COUNT, "a positive integer")
#: 0, 1, ... where 0 means "none" (retries, GPUs) or is a valid index
non_negative_int = _int_type(0, MAX_COUNT, "an integer >= 0")
#: seconds: a finite number above 0, at most MAX_SECONDS
seconds = _number_type(MAX_SECONDS, "a positive number of seconds")
#: gigabytes of memory
gigabytes = _number_type(MAX_MEM_GB, "a positive number of GB")


def check_flags(args: argparse.Namespace) -> None:
    """Raise the StudyError of the first refused number among the parsed flags."""
    for dest, value in vars(args).items():
        if isinstance(value, BadNumber):
            raise StudyError(f"--{dest.replace('_', '-')} {value.problem}")


def checked(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``handler`` after :func:`check_flags`."""

    def run(args: argparse.Namespace) -> int:
        check_flags(args)
        return handler(args)

    run.__name__ = getattr(handler, "__name__", "handler")
    run.__wrapped__ = handler   # type: ignore[attr-defined]
    return run


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` report any other bad flag (an unknown choice, a missing value) as one
    line (``error: ...``, exit 2), like every user error, instead of its usage block."""

    def error(message: str):
        text = f"{parser.prog}: {message} (see --help)".replace("\n", " ")
        print(f"error: {text}", file=sys.stderr)
        sys.exit(2)

    parser.error = error   # type: ignore[method-assign]
