"""Numbers from users, checked once: flag values (the CLI's types), study-file bounds, the run limit.

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

import math
import os
from typing import Any

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
