"""Thin wrappers around the Slurm client commands: sbatch, squeue, sacct, scontrol.

Every call has a time limit and turns a failure into :class:`SlurmError` with one line of
text. Job references are strings: ``"123"`` (a plain job) or ``"123_4"`` (an array task).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache
from typing import Iterable, Sequence

from ..errors import StudyError

CALL_TIMEOUT = 60.0
# states in which a job may still run (or run again); everything else is final
LIVE_STATES = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED",
                         "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING",
                         "STAGE_OUT", "STOPPED"})
DEFAULT_MAX_ARRAY_SIZE = 1001
_ARRAY = re.compile(r"^(\d+)_\[([^\]]*)\]$")


class SlurmError(StudyError):
    """A Slurm client command failed (bad partition, no such account, daemon down...)."""


def have_slurm() -> bool:
    return shutil.which("sbatch") is not None


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return " | ".join(lines[-3:])[:500]


def call(args: Sequence[str], *, timeout: float = CALL_TIMEOUT) -> str:
    """Run a Slurm client; its stdout, or SlurmError naming the command and its stderr."""
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SlurmError(f"{args[0]} not found: is this a Slurm login node?") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{args[0]} did not answer within {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise SlurmError(f"{args[0]} failed (exit {proc.returncode}): "
                         f"{_one_line(proc.stderr) or _one_line(proc.stdout)}")
    return proc.stdout


def sbatch(args: Sequence[str]) -> str:
    """Submit with ``sbatch --parsable ...``; returns the job id."""
    out = call(["sbatch", "--parsable", *args])
    job_id = out.strip().splitlines()[-1].split(";")[0].strip() if out.strip() else ""
    if not job_id.isdigit():
        raise SlurmError(f"sbatch printed no job id: {_one_line(out)}")
    return job_id


@lru_cache(maxsize=1)
def max_array_size() -> int:
    """``MaxArraySize`` of the cluster (array indices must stay below it)."""
    try:
        out = call(["scontrol", "show", "config"], timeout=20)
    except SlurmError:
        return DEFAULT_MAX_ARRAY_SIZE
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize":
            try:
                return max(1, int(value.strip()))
            except ValueError:
                break
    return DEFAULT_MAX_ARRAY_SIZE


def expand_job_id(text: str) -> list[str]:
    """``123_[0-3,7%2]`` → ``123_0 … 123_3, 123_7``; other ids unchanged."""
    m = _ARRAY.match(text)
    if not m:
        return [text]
    base, spec = m.group(1), m.group(2).split("%", 1)[0]
    out = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        step = 1
        if ":" in hi:
            hi, _, s = hi.partition(":")
            step = int(s or 1)
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            continue
        out += [f"{base}_{i}" for i in range(first, last + 1, step)]
    return out


def base_id(ref: str) -> str:
    return ref.split("_", 1)[0]


def _parse_states(out: str) -> dict[str, str]:
    states: dict[str, str] = {}
    for line in out.splitlines():
        if "|" not in line:
            continue
        jid, state = line.split("|", 1)
        state = (state.split() or [""])[0].rstrip("+")
        for ref in expand_job_id(jid.strip()):
            states[ref] = state
    return states


def _chunks(items: list[str], n: int = 200) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def queue_states(job_ids: Iterable[str]) -> dict[str, str]:
    """Live jobs from ``squeue`` (one line per array task)."""
    ids = sorted({base_id(j) for j in job_ids})
    states: dict[str, str] = {}
    for chunk in _chunks(ids):
        try:
            out = call(["squeue", "-h", "-r", "-j", ",".join(chunk), "-o", "%i|%T"])
        except SlurmError:  # an id the controller forgot makes squeue -j fail: ask for mine
            out = call(["squeue", "-h", "-r", "--me", "-o", "%i|%T"])
        states.update(_parse_states(out))
    return states


def accounting_states(job_ids: Iterable[str]) -> dict[str, str]:
    """Job states from ``sacct`` (lags the end of a job by a few seconds)."""
    ids = sorted({base_id(j) for j in job_ids})
    states: dict[str, str] = {}
    for chunk in _chunks(ids):
        out = call(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(chunk)])
        states.update(_parse_states(out))
    return states


def job_states(refs: Iterable[str]) -> dict[str, str | None]:
    """State of each job reference: squeue for live jobs, then sacct; None when unknown.

    A job that just ended may be absent from both for a second or two (sacct lag): callers
    must treat None as "don't know yet", never as an end.
    """
    refs = list(dict.fromkeys(refs))
    if not refs:
        return {}
    live = queue_states(refs)
    missing = [r for r in refs if r not in live]
    acct: dict[str, str] = {}
    if missing:
        try:
            acct = accounting_states(missing)
        except SlurmError:
            acct = {}
    out: dict[str, str | None] = {}
    for ref in refs:
        out[ref] = live.get(ref) or acct.get(ref)
    return out


def cancel(job_ids: Iterable[str]) -> None:
    ids = sorted(set(job_ids))
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=CALL_TIMEOUT,
                       check=False)
