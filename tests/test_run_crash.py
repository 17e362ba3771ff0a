"""Hard deaths: a job that os._exit()s, and kill -9 of the whole orchestrator.

Records are the truth: a job process that dies without reporting is recorded ``failed`` (by
the sweeper after the batch, or by the CLI when the multirun process itself died), the other
jobs keep their success records, views are written, and the exit code is 1. After kill -9 of
the orchestrator (CLI + multirun, the whole process group), ``run`` finishes exactly the
missing runs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (CRASH_MARK, PY, REPO, assert_ok, cli, hydra_multirun, load_records,
                      natural, read_jsonl, socialsim_doc, view_run_ids, write_study)

SCEN = "election_recsys_engagement"


def crash_study(tmp_path: Path) -> Path:
    """ok (seeds 2, 10), then crash (os._exit mid-run), then after (seed 2)."""
    conds = {"ok": {"seeds": [2, 10]},
             "crash": {"seeds": [2], "overrides": {"debug.fail": "exit"}},
             "after": {"seeds": [2]}}
    return write_study(tmp_path / "study", socialsim_doc(conds))


OK = [f"h1__ok__{SCEN}__seed2", f"h1__ok__{SCEN}__seed10", f"h1__after__{SCEN}__seed2"]
CRASHED = f"h1__crash__{SCEN}__seed2"


def check_crash_outcome(study: Path) -> None:
    records = load_records(study)
    assert sorted(records) == sorted(OK + [CRASHED])
    for run_id in OK:
        assert records[run_id]["status"] == "success", records[run_id]
    bad = records[CRASHED]
    assert bad["status"] == "failed"
    assert CRASH_MARK in bad["error"]
    # views were written after the failure, with every run
    for view, ids in view_run_ids(study).items():
        assert ids == natural(OK + [CRASHED]), view


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_os_exit_in_a_batch_keeps_the_others(tmp_path, launcher):
    study = crash_study(tmp_path)
    extra = (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib"
             else ["hydra/launcher=submitit_local"])
    proc = hydra_multirun("examples.socialsim", study, *extra, sweep_dir=tmp_path / "mr")
    assert_ok(proc, 1)
    assert "1 of 4 run(s) failed" in proc.stderr
    check_crash_outcome(study)


@pytest.mark.slow
def test_os_exit_kills_the_basic_multirun_and_the_cli_carries_on(tmp_path):
    study = crash_study(tmp_path)
    proc = cli(study, "run", "--launcher", "basic")
    assert_ok(proc, 1)
    assert "ended with exit code 3" in proc.stdout
    check_crash_outcome(study)
    bad = load_records(study)[CRASHED]
    assert bad["exit_code"] == 3 and "exit code 3" in bad["error"]
    # the multirun was started twice: once before and once after the crash
    assert len(list((study / "generated" / "logs").glob("run_*.log"))) == 2
    assert f"[failed] {CRASHED}" in proc.stdout


def _group_alive(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(entry))
    return out


@pytest.mark.slow
def test_kill_9_of_the_orchestrator_then_run_finishes_exactly_the_missing_runs(tmp_path):
    seeds = [2, 3, 4, 10, 11]
    doc = socialsim_doc({"slow": {"overrides": {"debug.fail": "sleep",
                                                "debug.sleep_seconds": 1.0}}},
                        seeds=seeds, evaluations=False)
    study = write_study(tmp_path / "study", doc)
    ids = [f"h1__slow__{SCEN}__seed{s}" for s in seeds]
    cmd = [PY, "-m", "silisocs_study", "--study", str(study), "--repo-root", str(REPO), "run"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    pgid = proc.pid
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            recs = load_records(study)  # every file parses, even mid-run
            done = [k for k, r in recs.items() if r["status"] == "success"]
            running = [k for k, r in recs.items() if r["status"] == "running"]
            if len(done) >= 2 and running:
                break
            assert proc.poll() is None, "the study finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("never saw 2 finished runs and one running")
        os.killpg(pgid, signal.SIGKILL)   # the CLI and its multirun child
        proc.wait(timeout=10)
    finally:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _ in range(100):
        if not _group_alive(pgid):
            break
        time.sleep(0.05)
    assert not _group_alive(pgid), "part of the orchestrator survived kill -9"
    # the multirun it started (its own process group, behind the guard) goes down with it:
    # every run's lease is released within the guard's grace period
    from silisocs_study.ledger import lease

    folders = [study / "runs" / "h1" / "slow" / SCEN / f"seed_{s}" / "run" for s in seeds]
    for _ in range(200):
        if not any(lease.holder(f) for f in folders):
            break
        time.sleep(0.05)
    assert not any(lease.holder(f) for f in folders), "a run kept executing after kill -9"

    before = load_records(study)
    succeeded = {k: r["attempt_id"] for k, r in before.items() if r["status"] == "success"}
    interrupted = [k for k, r in before.items() if r["status"] == "running"]
    assert len(succeeded) >= 2 and len(interrupted) == 1
    missing = [k for k in ids if k not in succeeded]

    again = cli(study, "run")
    assert_ok(again)
    assert f"new {len(missing)}," in again.stdout
    assert f"skip (complete) {len(succeeded)}" in again.stdout
    after = load_records(study)
    assert sorted(after) == sorted(ids)               # each run once, every file parses
    assert all(r["status"] == "success" for r in after.values())
    for run_id, attempt in succeeded.items():          # skipped, not re-run
        assert after[run_id]["attempt_id"] == attempt
        assert after[run_id]["session"] == before[run_id]["session"]
    sessions = {after[k]["session"] for k in missing}
    assert len(sessions) == 1 and sessions != {before[interrupted[0]]["session"]}
    [run_id] = interrupted                             # the interrupted run was re-run
    assert after[run_id]["attempt_id"] != before[run_id]["attempt_id"]
    assert [h["status"] for h in after[run_id]["history"]] == ["running"]
    lines = read_jsonl(study / "generated" / "repro_lock.jsonl")
    assert [r["run_id"] for r in lines] == natural(ids)
    assert not list((study / "generated" / "records").glob(".*.tmp"))
