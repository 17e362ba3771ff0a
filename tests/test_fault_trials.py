"""Fault trials: exactly once, whatever happens to the orchestrator.

Every run is an exact command (``tests/apps/execlog_cmd.py``) that logs its executions to one
append-only file: a ``start``, a ``tick`` every 50 ms while it works, an ``end``. From that
log each trial asserts that no run ever executed twice at the same time (a process that
survived a kill keeps ticking into the next attempt), that no run executed again after it
completed, and that every run completed exactly once in the end.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PY, REPO, assert_ok, cli, load_records, noop_doc, pid_alive, write_study
from silisocs_study.ledger import lease

COMMAND = str(REPO / "tests" / "apps" / "execlog_cmd.py")
pytestmark = [pytest.mark.slow]


def execlog_study(tmp_path: Path, seeds, seconds: float, fail: dict | None = None) -> Path:
    conditions = {"ok": {"execution": {"command": ["{python}", COMMAND, "{run_id}",
                                                   str(seconds)]}}}
    for name, code in (fail or {}).items():
        conditions[name] = {"execution": {"command": ["{python}", COMMAND, "{run_id}",
                                                      str(seconds), str(code)]}}
    return write_study(tmp_path / "study", noop_doc(conditions, seeds=seeds))


def env(log: Path) -> dict:
    return dict(os.environ, EXECLOG=str(log))


def executions(log: Path) -> dict[str, list[dict]]:
    """Per run, its executions (one per pid) with first and last time seen and whether they
    ended, in start order."""
    out: dict[str, dict[int, dict]] = {}
    if not log.exists():
        return {}
    for line in log.read_text().splitlines():
        row = json.loads(line)
        ex = out.setdefault(row["run"], {}).setdefault(
            row["pid"], {"pid": row["pid"], "start": row["t"], "last": row["t"], "ended": False})
        ex["last"] = max(ex["last"], row["t"])
        ex["ended"] = ex["ended"] or row["event"] == "end"
    return {run: sorted(by_pid.values(), key=lambda e: e["start"]) for run, by_pid in out.items()}


def assert_exactly_once(log: Path, run_ids: list[str]) -> dict[str, list[dict]]:
    runs = executions(log)
    assert sorted(runs) == sorted(run_ids)
    for run_id, execs in runs.items():
        for before, after in zip(execs, execs[1:]):
            assert before["last"] < after["start"], f"{run_id}: two executions overlapped"
            assert not before["ended"], f"{run_id}: executed again after it completed"
        assert sum(e["ended"] for e in execs) == 1, f"{run_id}: {execs}"
    return runs


def run_cmd(study: Path) -> list[str]:
    return [PY, "-m", "silisocs_study", "--study", str(study), "--repo-root", str(REPO), "run",
            "--no-progress"]


def study_processes(study: Path) -> list[int]:
    """Live processes whose command line names the study (multiruns, guards, jobs)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if str(study).encode() in cmdline and pid_alive(int(name)):
            out.append(int(name))
    return out


def settle(study: Path, log: Path, timeout: float = 20.0) -> None:
    """Wait until nothing of a killed orchestrator is left: no process that names the
    study, no run's lease held, no logged execution alive."""
    folders = list((study / "runs").glob("*/*/*/seed_*/run"))
    deadline = time.time() + timeout
    pids = {e["pid"] for execs in executions(log).values() for e in execs}
    while time.time() < deadline:
        if not any(lease.holder(f) for f in folders) and not any(map(pid_alive, pids)) \
                and not study_processes(study):
            return
        time.sleep(0.05)
    alive = [p for p in pids if pid_alive(p)] + study_processes(study)
    pytest.fail(f"still executing after the orchestrator died: pids {alive}")


def test_a_second_orchestrator_is_refused_while_the_first_runs(tmp_path):
    study = execlog_study(tmp_path, seeds=(1, 2, 3), seconds=0.8)
    log = tmp_path / "exec.log"
    first = subprocess.Popen(run_cmd(study), cwd=tmp_path, env=env(log),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not executions(log) and time.time() < deadline:
            time.sleep(0.05)
        second = cli(study, "run", "--no-progress", env=env(log))
        assert_ok(second, 2)
        [line] = second.stderr.splitlines()
        assert line.startswith(f"error: study noop is being run by pid {first.pid} since ")
        assert "--wait" in line and second.stdout == ""
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert_exactly_once(log, [f"h1__ok__s__seed{s}" for s in (1, 2, 3)])


def test_kill_9_of_the_orchestrator_ten_times_then_every_run_once(tmp_path):
    seeds = tuple(range(1, 7))
    study = execlog_study(tmp_path, seeds=seeds, seconds=0.7)
    log = tmp_path / "exec.log"
    rng = random.Random(20261201)
    kills = 0
    for trial in range(10):
        proc = subprocess.Popen(run_cmd(study), cwd=tmp_path, env=env(log),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)   # the orchestrator alone, at a random point
            kills += 1
        proc.wait(timeout=60)
        settle(study, log)
    assert kills >= 5, "the trials finished before they could be interrupted"
    final = cli(study, "run", "--no-progress", env=env(log), timeout=300)
    assert_ok(final)
    run_ids = [f"h1__ok__s__seed{s}" for s in seeds]
    runs = assert_exactly_once(log, run_ids)
    records = load_records(study)
    assert all(records[r]["status"] == "success" for r in run_ids)
    for run_id in run_ids:   # the record names the execution that completed
        [done] = [e for e in runs[run_id] if e["ended"]]
        folder = Path(records[run_id]["run_dir"])
        assert (folder / "done.txt").read_text() == run_id
    # every interrupted attempt is on the record, moved aside, never summed
    interrupted = sum(len(execs) - 1 for execs in runs.values())
    moved = sum(len(list(f.iterdir())) for f in (study / "runs").glob("*/*/*/seed_*/run.attempts"))
    assert moved >= interrupted


def test_a_failing_command_in_a_joblib_batch_costs_its_siblings_nothing(tmp_path):
    study = execlog_study(tmp_path, seeds=(1, 2), seconds=1.0, fail={"bad": 3})
    log = tmp_path / "exec.log"
    proc = cli(study, "run", "--launcher", "joblib", "--max-concurrent", "2", "--no-progress",
               env=env(log), timeout=300)
    assert_ok(proc, 1)
    assert "BrokenProcessPool" not in proc.stdout + proc.stderr
    run_ids = [f"h1__{c}__s__seed{s}" for c in ("ok", "bad") for s in (1, 2)]
    runs = assert_exactly_once(log, run_ids)
    assert all(len(execs) == 1 for execs in runs.values()), runs   # nothing started twice
    records = load_records(study)
    for run_id in run_ids:
        status = records[run_id]["status"]
        assert status == ("failed" if "__bad__" in run_id else "success"), run_id
    bad = records["h1__bad__s__seed1"]
    assert bad["exit_code"] == 3 and "command exited with code 3" in bad["error"]


def test_ctrl_c_leaves_no_worker_behind(tmp_path):
    """Ctrl-C (SIGINT to the orchestrator) mid-study with joblib workers: exit 130 and every
    process the orchestrator started — guard, multirun, loky workers, commands — is gone."""
    from silisocs_study.procstate import descendants

    study = execlog_study(tmp_path, seeds=(1, 2, 3, 4), seconds=2.0)
    log = tmp_path / "exec.log"
    proc = subprocess.Popen(run_cmd(study) + ["--launcher", "joblib", "--max-concurrent", "2"],
                            cwd=tmp_path, env=env(log), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    started: set[int] = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(executions(log)) < 2:
        started |= descendants(proc.pid)
        time.sleep(0.05)
    started |= descendants(proc.pid)
    assert len(executions(log)) >= 2 and len(started) >= 4, started
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    deadline = time.time() + 15
    while time.time() < deadline and any(map(pid_alive, started)):
        time.sleep(0.05)
    assert not [p for p in started if pid_alive(p)], "processes outlived Ctrl-C"
    assert not study_processes(study)


def test_with_wait_the_second_orchestrator_waits_then_finds_everything_done(tmp_path):
    study = execlog_study(tmp_path, seeds=(1, 2), seconds=0.8)
    log = tmp_path / "exec.log"
    first = subprocess.Popen(run_cmd(study), cwd=tmp_path, env=env(log),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not executions(log) and time.time() < deadline:
            time.sleep(0.05)
        second = cli(study, "run", "--wait", "--no-progress", env=env(log), timeout=300)
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0
    assert_ok(second)
    assert f"waiting: study noop is being run by pid {first.pid}" in second.stderr
    assert "skip (complete) 2" in second.stdout and "Launching" not in second.stdout
    assert_exactly_once(log, ["h1__ok__s__seed1", "h1__ok__s__seed2"])
