"""Smoke tests against a real Slurm cluster (see slurm_scripts/local-cluster.sh).

They submit real jobs with sbatch and read their fate back from accounting
(sacct), which lags the end of a job by a second or so: every check polls,
bounded in time, instead of asserting at once.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm]   # skipped when no controller answers (conftest)

POLL_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.2
CMD_TIMEOUT_S = 30.0


def _run(*args: str) -> str:
    proc = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=CMD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
        )
    return proc.stdout


def _sbatch(tmp_path: Path, *args: str) -> str:
    out = _run(
        "sbatch",
        "--parsable",
        f"--chdir={tmp_path}",
        f"--output={tmp_path}/%x-%A_%a.out",
        "--job-name=silisocs-smoke",
        *args,
    )
    # --parsable prints "jobid" or "jobid;cluster".
    return out.strip().split(";")[0]


def _sacct_states(job_id: str) -> dict[str, str]:
    """Map each allocation (job or array task) of job_id to its sacct state."""
    out = _run("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "JobID,State")
    states = {}
    for line in out.splitlines():
        if line.strip():
            jid, state = line.split("|", 1)
            # "CANCELLED by 0" -> "CANCELLED"
            states[jid] = state.split()[0] if state.strip() else state
    return states


def _poll(what: str, check, timeout: float = POLL_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last is not None and last is not False:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


def _squeue_state(job_id: str) -> str:
    return _run("squeue", "-h", "-j", job_id, "-o", "%T").strip()


def test_job_completes_and_is_accounted(tmp_path: Path) -> None:
    job_id = _sbatch(tmp_path, "--wrap", "hostname")

    def done():
        states = _sacct_states(job_id)
        return states if states.get(job_id) in {"COMPLETED", "FAILED", "CANCELLED"} else None

    states = _poll(f"job {job_id} to finish in sacct", done)
    assert states == {job_id: "COMPLETED"}
    outputs = list(tmp_path.glob(f"*-{job_id}_*.out"))
    assert len(outputs) == 1, outputs
    assert outputs[0].read_text().strip(), "the job wrote no hostname"


def test_cancelled_job_is_seen_as_cancelled(tmp_path: Path) -> None:
    job_id = _sbatch(tmp_path, "--wrap", "sleep 60")
    try:
        _poll(f"job {job_id} to start", lambda: _squeue_state(job_id) == "RUNNING")
    finally:
        _run("scancel", job_id)

    def cancelled():
        states = _sacct_states(job_id)
        return states if states.get(job_id) == "CANCELLED" else None

    states = _poll(f"job {job_id} to show as CANCELLED in sacct", cancelled)
    assert states == {job_id: "CANCELLED"}


def test_array_of_20_tasks_all_complete(tmp_path: Path) -> None:
    n = 20
    job_id = _sbatch(tmp_path, f"--array=0-{n - 1}", "--wrap", "true")
    expected = {f"{job_id}_{i}" for i in range(n)}

    def all_done():
        states = _sacct_states(job_id)
        finished = {k: v for k, v in states.items() if v not in {"PENDING", "RUNNING"}}
        return states if set(finished) == expected else None

    try:
        states = _poll(f"the {n} tasks of array {job_id} to finish", all_done, timeout=60)
    except AssertionError:
        subprocess.run(["scancel", job_id], check=False, timeout=CMD_TIMEOUT_S)
        raise
    assert states == {task: "COMPLETED" for task in expected}
