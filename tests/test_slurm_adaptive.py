"""Adaptive studies on Slurm: ``slurm-array`` submits one round at a time, and each round's
finalize job submits the next (silisocs_study/hpc/chain.py) until every arm has stopped.

The cluster tests (marked ``slurm`` and ``slow``) need slurm_scripts/local-cluster.sh; the
others run anywhere. The study is the synthetic effects app (tests/apps/effects): its values
are deterministic, so the rounds are known — the same as ``run`` makes locally: "large" is
decided after round 2 (5 seeds, 7 saved), "small" and the reference "ref" run to the cap of
12 seeds over 6 rounds (3, 2, 2, 2, 2, 1 seeds).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from silisocs_study.cli import main
from silisocs_study.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TEMPLATE = ROOT / "slurm_scripts" / "study-array-template.sh"
CONDITIONS = ("ref", "large", "small")
# the round each seed runs in, per arm (seed i → ROUNDS[i - 1])
ROUNDS = {"large": [1, 1, 1, 2, 2],
          "small": [1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6],
          "ref": [1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6]}


def effects_study(root: Path) -> Path:
    """The adaptive effects study in its own folder (``--repo-root`` is that folder: the
    app imports through this checkout's editable install, its config by absolute path)."""
    root.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema_version": 1,
        "study": {"name": "effects", "study_id": "effects", "scenarios": ["calm"],
                  "run_defaults": {"runner_module": "tests.apps.effects",
                                   "config_path": str(ROOT / "tests/apps/effects/conf"),
                                   "seed_start": 1, "seed_repeats": 12,
                                   "inject": {"scenario": "scenario"}}},
        "evaluations": [{"id": "fx", "command": ["{python}", "-m", "tests.apps.effects.score"]}],
        "hypotheses": {"h1": {"conditions": {
            "ref": {"overrides": {"effect": 0.0, "arm": "ref"}},
            "large": {"overrides": {"effect": 4.0, "arm": "large"}},
            "small": {"overrides": {"effect": 0.3, "arm": "small"}}}}},
        "analysis": {"metric": "fx.y", "delta": 1.0},
        "adaptive": {"decide": True, "min_seeds": 3, "round_size": 2},
    }
    (root / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def env() -> dict[str, str]:
    """The CLI's environment, passed on to the jobs by --export=ALL (a bytecode cache outside
    the repo: PYTHONDONTWRITEBYTECODE would make every job compile Hydra again)."""
    e = dict(os.environ)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e.setdefault("PYTHONPYCACHEPREFIX", "/tmp/silisocs-pycache")
    e.setdefault("HYDRA_FULL_ERROR", "1")
    return e


def cli(study: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "silisocs_study", "--study", str(study), "--repo-root",
                           str(study), *args], capture_output=True, text=True, env=env(),
                          timeout=timeout, cwd=str(study))


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def submissions(study: Path) -> list[dict]:
    path = study / "generated" / "slurm" / "submissions.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


def seeds_by_arm(records: dict[str, dict]) -> dict[str, list[tuple[int, int]]]:
    """condition → [(seed, adaptive_round)] in seed order."""
    out: dict[str, list[tuple[int, int]]] = {c: [] for c in CONDITIONS}
    for rec in records.values():
        out[rec["condition"]].append((rec["seed"], rec["adaptive_round"]))
    return {c: sorted(v) for c, v in out.items()}


def submission_dir(study: Path) -> Path:
    (sub,) = (study / "generated" / "slurm").iterdir()
    return sub


# -- without a cluster --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["case", "run"])
def test_files_only_submission_of_an_adaptive_study_holds_only_its_first_round(
        tmp_path, capsys, mode):
    study = effects_study(tmp_path / "study")
    code = main(["--study", str(study), "--repo-root", str(study), "slurm-array",
                 "--array-mode", mode, "--skip-config-check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Adaptive round 1: 3 arm(s) running" in out
    assert "this round needs 9 of 36 run(s)" in out
    assert "this array covers one round (round 1, 9 run(s))" in out and "Not submitted" in out
    sub = submission_dir(study)
    meta = json.loads((sub / "tasks.json").read_text())
    ids = [rid for t in meta["tasks"] for rid in t["run_ids"]]
    assert sorted(ids) == sorted(f"h1__{c}__calm__seed{s}" for c in CONDITIONS
                                 for s in (1, 2, 3))                 # min_seeds of each arm
    assert [r["run_id"] for r in json.loads((sub / "plan.json").read_text())["runs"]] == ids
    adaptive = meta["adaptive"]
    assert adaptive["round"] == 1 and adaptive["chain"] is None      # nobody chains it
    assert json.loads(Path(adaptive["round_file"]).read_text()) == {"round": 1, "run_ids": ids}
    assert not (study / "generated" / "slurm" / "submissions.jsonl").exists()
    if mode == "run":   # one-run tasks start the app themselves: their job files say the round
        for rid in ids:
            job = json.loads((study / "generated" / "jobs" / f"{rid}.json").read_text())
            assert job["adaptive_round"] == 1 and job["session"] == sub.name
        assert len(list((sub / "tasks").glob("*.argv"))) == 9


@pytest.mark.slow
def test_a_round_run_by_hand_records_its_number_and_its_finalize_submits_nothing(tmp_path, capsys):
    """The files of a round run outside Slurm (the template with SLURM_ARRAY_TASK_ID): the
    task path hands the round to the sweeper; a files-only finalize names the next round."""
    study = effects_study(tmp_path / "study")
    assert main(["--study", str(study), "--repo-root", str(study), "slurm-array",
                 "--array-mode", "case", "--skip-config-check"]) == 0
    capsys.readouterr()
    sub = submission_dir(study)
    for index in range(3):
        proc = subprocess.run(["bash", str(TEMPLATE), str(sub), "0"],
                              env=env() | {"SLURM_ARRAY_TASK_ID": str(index)},
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    records = Ledger(study / "generated").all()
    assert len(records) == 9
    assert {(r["status"], r["adaptive_round"]) for r in records.values()} == {("success", 1)}
    proc = subprocess.run([PY, "-m", "silisocs_study", "task", "--submission", str(sub),
                           "--finalize"], env=env(), capture_output=True, text=True,
                          timeout=180, cwd=str(sub))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "adaptive round 1 ended; next: adaptive round 2:" in proc.stdout
    assert "6 run(s) to do, not submitted (this submission was written without --submit)" \
        in proc.stdout
    assert not (study / "generated" / "slurm" / "submissions.jsonl").exists()


def test_submitit_refuses_an_adaptive_study_in_one_line(tmp_path, capsys, monkeypatch):
    from silisocs_study.hpc import slurm

    monkeypatch.setattr(slurm, "have_slurm", lambda: True)
    study = effects_study(tmp_path / "study")
    for extra in ([], ["--dry-run"]):
        code = main(["--study", str(study), "--repo-root", str(study), "submitit", *extra])
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1 and "slurm-array --submit" in err, err
    assert not (study / "generated" / "slurm").exists()


def test_the_finalize_job_waits_for_the_study_lock_and_leaves_its_job_environment(
        tmp_path, monkeypatch, capsys):
    """The chain decides under the study lock like any orchestrator: the lock variable its
    submitter's environment carried is dropped (a stale claim), a lock another process holds
    is waited for, and the finalize job's own SLURM_* variables do not reach the next round."""
    from silisocs_study.hpc import chain, slurm_array
    from silisocs_study.hpc.options import SubmitOptions
    from silisocs_study.ledger.studylock import HELD_ENV, StudyBusy

    tries: list[dict] = []

    def submit_round(opts, *, chain):
        tries.append({"chain": chain, "held": os.environ.get(HELD_ENV),
                      "job": os.environ.get("SLURM_JOB_ID"),
                      "conf": os.environ.get("SLURM_CONF"), "opts": opts})
        if len(tries) < 3:
            raise StudyBusy("study effects is being run by pid 1")
        return slurm_array.Submitted(0, ["77"])

    monkeypatch.setattr(slurm_array, "submit_round", submit_round)
    monkeypatch.setattr(chain, "LOCK_POLL", 0.01)
    monkeypatch.setenv(HELD_ENV, str(tmp_path))
    monkeypatch.setenv("SLURM_JOB_ID", "5")
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
    opts = SubmitOptions(study=str(tmp_path / "study.yaml"), array_mode="run",
                         runs_per_task=2, max_concurrent=3, retry_failed=True, submit=True)
    opts.resources.partition = "debug"
    meta = {"adaptive": {"round": 2, "chain": "c1", "options": opts.to_json()}}
    assert chain.after_round(meta, plan=None, views=None) == 0
    assert len(tries) == 3 and "waiting up to 20 min: study effects is being run" in \
        capsys.readouterr().out
    last = tries[-1]
    assert last["chain"] == "c1" and last["held"] is None and last["job"] is None
    assert last["conf"] == "/etc/slurm/slurm.conf"
    again = last["opts"]
    assert (again.array_mode, again.runs_per_task, again.max_concurrent, again.retry_failed,
            again.resources.partition, again.submit) == ("run", 2, 3, True, "debug", True)


# -- on the cluster ---------------------------------------------------------------------------

@pytest.fixture
def cancel_afterwards():
    studies: list[Path] = []
    yield studies
    for _ in range(2):   # a finalize job may be submitting the next round right now
        ids = {j.split("_")[0] for study in studies for sub in submissions(study)
               for j in [*(sub.get("job_ids") or []), sub.get("finalize_job_id") or ""] if j}
        if ids:
            subprocess.run(["scancel", *sorted(ids)], capture_output=True, timeout=30)
        time.sleep(1)


def _chain_ended(study: Path):
    """The finalize log of the last submission, once it says the chain ended (else None)."""
    subs = submissions(study)
    if not subs or not subs[-1].get("finalize_job_id"):
        return None
    log = Path(subs[-1]["dir"]) / "logs" / f"finalize_{subs[-1]['finalize_job_id']}.out"
    text = log.read_text() if log.exists() else ""
    live = subprocess.run(["squeue", "-h", "-j", subs[-1]["finalize_job_id"], "-o", "%T"],
                          capture_output=True, text=True, timeout=30).stdout.strip()
    return text if "every arm has stopped" in text and not live else None


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["case", "run"])
def test_adaptive_study_runs_round_after_round_on_slurm_by_itself(tmp_path, cancel_afterwards,
                                                                 mode):
    study = effects_study(tmp_path / f"adaptive_{mode}")
    cancel_afterwards.append(study)
    out = ok(cli(study, "slurm-array", "--submit", "--array-mode", mode,
                 "--timeout-minutes", "5"))
    assert "Adaptive round 1: 3 arm(s) running" in out
    assert "Adaptive round 1 submitted (9 run(s)); when it ends, the finalize job" in out
    assert "submits the next round" in out
    if mode == "case":   # an orchestrator holds the study: round 1's finalize job waits
        import fcntl

        fd = os.open(study, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            first = Path(submissions(study)[0]["dir"]) / "logs" / \
                f"finalize_{submissions(study)[0]['finalize_job_id']}.out"
            deadline = time.monotonic() + 120
            while not (first.exists() and "waiting up to 20 min: study effects is being "
                       "run by pid" in first.read_text()):
                assert time.monotonic() < deadline, "round 1's finalize job did not wait"
                time.sleep(0.5)
            assert len(submissions(study)) == 1          # nothing submitted while it waits
        finally:
            os.close(fd)   # released: the chain goes on
    deadline = time.monotonic() + 300
    log = None
    while log is None:
        assert time.monotonic() < deadline, f"the chain did not end: {submissions(study)}"
        time.sleep(1)
        log = _chain_ended(study)
    assert "Adaptive: every arm has stopped — 0 arm(s) running, 1 decided, 2 capped; " \
           "29 of 36 seeds done, 7 saved so far" in log
    assert (study / "generated" / "reports" / "summary.md").is_file()

    records = Ledger(study / "generated").all()
    assert {r["status"] for r in records.values()} == {"success"}
    arms = seeds_by_arm(records)
    assert [s for s, _ in arms["large"]] == [1, 2, 3, 4, 5]           # decided: 7 seeds saved
    assert [s for s, _ in arms["small"]] == list(range(1, 13))        # the cap
    for cond, seeds in arms.items():                                  # rounds follow the seeds
        assert [r for _, r in seeds] == ROUNDS[cond], cond

    subs = submissions(study)                                         # one per round
    assert [s["adaptive_round"] for s in subs] == [1, 2, 3, 4, 5, 6]
    assert {s["chain"] for s in subs} == {subs[0]["id"]}
    assert all(s["finalize_job_id"] for s in subs)
    for sub in subs:                                                  # each run exactly once
        assert {rid for rid in sub["runs"]} == {
            rid for rid, r in records.items() if r["adaptive_round"] == sub["adaptive_round"]}
    assert sum(len(s["runs"]) for s in subs) == len(records) == 29

    status = json.loads(ok(cli(study, "status", "--json")))
    assert status["totals"] == {"success": 29, "saved": 7}
    states = {a["condition"]: (a["state"], a["attempted"]) for a in status["adaptive"]["arms"]}
    assert states == {"large": ("decided", 5), "small": ("capped", 12), "ref": ("capped", 12)}
    again = ok(cli(study, "slurm-array", "--submit"))                 # nothing left to submit
    assert "No runs to submit." in again and len(submissions(study)) == 6
