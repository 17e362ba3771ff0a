"""Studies on a real Slurm cluster (slurm_scripts/local-cluster.sh): the submitit_slurm
launcher, the ``submitit`` and ``slurm-array`` verbs, hooks, cancellation and resume.

Every wait is a bounded poll (sacct lags the end of a job by seconds); every test cancels
what it submitted. Studies live in tmp dirs (``--repo-root``); the cluster shares this
filesystem, and jobs inherit the environment (``--export=ALL``).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm]   # skipped when no controller answers (conftest)

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SOCIALSIM = {"runner_module": "examples.socialsim",
             "config_path": str(ROOT / "examples/socialsim/conf"),
             "inject": {"scenario": "scenario"},
             "overrides": {"num_agents": 3, "num_steps": 1}}
NOOP = {"runner_module": "tests.apps.noop", "config_path": str(ROOT / "tests/apps/noop/conf")}


# -- helpers --------------------------------------------------------------------------------

def env() -> dict[str, str]:
    """The test's environment for the CLI and (through --export=ALL) for the jobs, with a
    bytecode cache outside the repo: this sandbox sets PYTHONDONTWRITEBYTECODE, which makes
    every job recompile Hydra (~0.5 s per process)."""
    e = dict(os.environ)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e.setdefault("PYTHONPYCACHEPREFIX", "/tmp/silisocs-pycache")
    e.setdefault("HYDRA_FULL_ERROR", "1")
    return e


def write_study(root: Path, app: dict, conditions: dict, *, seeds=(11, 12),
                scenarios=("election_recsys_engagement",), evaluations=None) -> Path:
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    hyps: dict = {}
    for key, overrides in conditions.items():
        hyp, cond = key.split("/")
        hyps.setdefault(hyp, {"conditions": {}})["conditions"][cond] = \
            {"overrides": overrides} if overrides else {}
    doc = {"schema_version": 1,
           "study": {"name": root.name, "study_id": root.name, "scenarios": list(scenarios),
                     "run_defaults": {**app, "seeds": list(seeds)}},
           "hypotheses": hyps}
    if evaluations:
        doc["evaluations"] = evaluations
    (root / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def cli(study: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([PY, "-m", "silisocs_study", "--study", str(study), "--repo-root",
                           str(study), *args], capture_output=True, text=True, env=env(),
                          timeout=timeout, cwd=str(study))
    return proc


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def poll(what: str, check, timeout: float = 60.0, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def records(study: Path) -> dict[str, dict]:
    out = {}
    folder = study / "generated" / "records"
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        out[rec["run_id"]] = rec
    return out


def final(study: Path, n: int):
    recs = records(study)
    done = {k: r for k, r in recs.items() if r.get("status") not in (None, "running")}
    return done if len(done) >= n else None


def submissions(study: Path) -> list[dict]:
    path = study / "generated" / "slurm" / "submissions.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


def sacct(job: str) -> dict[str, str]:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", job],
                         capture_output=True, text=True, timeout=30).stdout
    states = {}
    for line in out.splitlines():
        if "|" in line:
            jid, state = line.split("|", 1)
            states[jid] = (state.split() or [""])[0]
    return states


def jobs_ended(job_ids) -> bool:
    live = subprocess.run(["squeue", "-h", "-r", "--me", "-o", "%i"], capture_output=True,
                          text=True, timeout=30).stdout.split()
    return not any(j.split("_")[0] == lj.split("_")[0] for j in job_ids for lj in live)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def cleanup():
    """Collects studies / job names; cancels whatever they still have queued."""
    studies: list[Path] = []
    names: list[str] = []
    yield studies, names
    ids = []
    for study in studies:
        for sub in submissions(study):
            ids += [j.split("_")[0] for j in sub.get("job_ids") or []]
            if sub.get("finalize_job_id"):
                ids.append(sub["finalize_job_id"])
    if ids:
        subprocess.run(["scancel", *sorted(set(ids))], capture_output=True, timeout=30)
    for name in names:
        subprocess.run(["scancel", "--name", name], capture_output=True, timeout=30)


# -- 1. the submitit_slurm launcher ---------------------------------------------------------

def test_study_runs_through_the_submitit_slurm_launcher(tmp_path, cleanup):
    study = write_study(tmp_path / "launcher", SOCIALSIM, {
        "h1/chronological": {"env.gm.components.observe.params.timeline_mode":
                             "follower_chronological"},
        "h1/recsys": {"env.gm.components.observe.params.timeline_mode": "pure_recsys"}},
        evaluations=[{"id": "actions", "preset": "builtin.action_metrics_detailed"}])
    name = f"silisocs-test-{uuid.uuid4().hex[:8]}"
    cleanup[1].append(name)
    out = ok(cli(study, "run", "--launcher", "submitit_slurm", "--max-concurrent", "4",
                 "--no-progress", "--", "hydra.launcher.partition=debug",
                 "hydra.launcher.mem_gb=1", "hydra.launcher.cpus_per_task=1",
                 "hydra.launcher.timeout_min=5", f"hydra.launcher.name={name}"))
    assert "success 4" in out
    recs = records(study)
    assert len(recs) == 4
    jobs = set()
    for rec in recs.values():
        assert rec["status"] == "success", rec.get("error")
        assert rec["launcher"] == "SlurmLauncher"
        prov = rec["provenance"]
        assert prov["slurm_job_id"] and prov["slurm_array_job_id"], prov   # ran on a node
        jobs.add(prov["slurm_job_id"])
        (ev,) = rec["evaluations"]                                         # evaluated there
        assert ev["status"] == "success" and Path(ev["path"]).is_file()
    assert len(jobs) == 4
    lock = json.loads((study / "generated" / "repro_lock.json").read_text())
    assert len(lock["records"]) == 4                                      # views: sweeper
    array = next(iter(recs.values()))["provenance"]["slurm_array_job_id"]
    states = poll("the array in sacct", lambda: (s := sacct(array)) and len(s) == 4 and s)
    assert set(states.values()) == {"COMPLETED"}


# -- 2. submitit: one job per group, user filters kept ---------------------------------------

def test_submitit_case_and_seed_modes_run_only_the_filtered_seeds(tmp_path, cleanup):
    study = write_study(tmp_path / "subm", NOOP, {"h1/a": {"x": 1}, "h1/b": {"x": 2}},
                        seeds=(11, 12, 13), scenarios=("s",))
    cleanup[0].append(study)
    out = ok(cli(study, "submitit", "--array-mode", "case", "--only-seed", "11",
                 "--partition", "debug", "--mem-gb", "1", "--cpus-per-task", "1",
                 "--timeout-minutes", "5"))
    assert "2 job(s) for 2 run(s)" in out and "Submitted 2 job(s)" in out
    (sub,) = submissions(study)
    assert [g["group"] for g in sub["groups"]] == ["h1/a", "h1/b"]
    assert sorted(sub["runs"]) == ["h1__a__s__seed11", "h1__b__s__seed11"]
    poll("the case jobs to end", lambda: final(study, 2) and jobs_ended(sub["job_ids"]))
    recs = records(study)
    assert sorted(recs) == ["h1__a__s__seed11", "h1__b__s__seed11"]       # seed 11 only
    for rec in recs.values():
        assert rec["status"] == "success"
        assert f"{rec['slurm_array_job_id']}_{rec['slurm_array_task_id']}" == \
            sub["runs"][rec["run_id"]]

    out = ok(cli(study, "submitit", "--array-mode", "seed", "--only-seed", "12,13",
                 "--timeout-minutes", "5", "--only-condition", "b"))
    assert "2 job(s) for 2 run(s)" in out
    sub = submissions(study)[-1]
    assert [g["group"] for g in sub["groups"]] == ["h1/b/seed12", "h1/b/seed13"]
    poll("the seed jobs to end", lambda: final(study, 4) and jobs_ended(sub["job_ids"]))
    recs = records(study)
    assert sorted(recs) == ["h1__a__s__seed11", "h1__b__s__seed11", "h1__b__s__seed12",
                            "h1__b__s__seed13"]
    assert all(r["status"] == "success" for r in recs.values())
    status = json.loads(ok(cli(study, "status", "--json")))
    assert status["totals"] == {"success": 4, "pending": 2}


# -- 3. slurm-array in every mode -------------------------------------------------------------

@pytest.mark.parametrize("mode,per_task,n_tasks", [
    ("case", 1, 3), ("seed", 1, 6), ("hypothesis", 1, 2), ("run", 1, 6), ("run", 4, 2)])
def test_slurm_array_modes(tmp_path, cleanup, mode, per_task, n_tasks):
    study = write_study(tmp_path / f"arr_{mode}_{per_task}", NOOP,
                        {"h1/a": {"x": 1}, "h1/b": {"x": 2}, "h2/a": {"x": 3}},
                        seeds=(1, 2), scenarios=("s",))
    cleanup[0].append(study)
    args = ["slurm-array", "--submit", "--array-mode", mode, "--timeout-minutes", "5"]
    if per_task > 1:
        args += ["--runs-per-task", str(per_task)]
    out = ok(cli(study, *args))
    assert f"{n_tasks} task(s) for 6 run(s)" in out
    (sub,) = submissions(study)
    meta = json.loads((Path(sub["dir"]) / "tasks.json").read_text())
    assert len(meta["tasks"]) == n_tasks
    recs = poll("6 final records", lambda: final(study, 6), timeout=60)
    task_of = {rid: i for i, t in enumerate(meta["tasks"]) for rid in t["run_ids"]}
    for rid, rec in recs.items():
        assert rec["status"] == "success", rec.get("error")
        assert rec["slurm_array_job_id"] == sub["job_ids"][0]
        assert int(rec["slurm_array_task_id"]) == task_of[rid]              # its own task
        assert sub["runs"][rid] == f"{sub['job_ids'][0]}_{task_of[rid]}"
    # the finalize job (afterany) rebuilds the views once
    lock = study / "generated" / "repro_lock.json"
    poll("the views from the finalize job", lambda: lock.exists() and len(
        json.loads(lock.read_text())["records"]) == 6, timeout=30)
    states = poll("the array in sacct", lambda: (s := sacct(sub["job_ids"][0])) and
                  len(s) == n_tasks and all(v == "COMPLETED" for v in s.values()) and s)
    assert len(states) == n_tasks


def test_one_run_task_that_dies_hard_is_recorded_by_the_finalize_job(tmp_path, cleanup):
    """One-run tasks start the app directly: a crash leaves no callback record, so the
    finalize job's sacct reconcile must write it (and leave the good run alone)."""
    study = write_study(tmp_path / "crash", NOOP, {"h/ok": {}, "h/boom": {"fail": "exit"}},
                        seeds=(1,), scenarios=("s",))
    cleanup[0].append(study)
    out = ok(cli(study, "slurm-array", "--submit", "--array-mode", "run", "--timeout-minutes", "5"))
    assert "2 task(s) for 2 run(s)" in out
    (sub,) = submissions(study)
    assert sorted(p.name for p in (Path(sub["dir"]) / "tasks").glob("*.argv")) == ["0.argv", "1.argv"]
    recs = poll("both records final (the crash via the finalize job)", lambda: final(study, 2),
                timeout=60, interval=1)
    assert recs["h__ok__s__seed1"]["status"] == "success"
    boom = recs["h__boom__s__seed1"]
    assert boom["status"] == "failed"
    assert boom["error"].startswith("the Slurm job failed before the run reported; log: ")
    assert Path(boom["error"].rsplit("log: ", 1)[1]).is_file()
    assert boom["slurm_job_ref"] == sub["runs"]["h__boom__s__seed1"]


# -- 4. cancel → status records it → run / submitit --retry-failed complete it -----------------

def test_cancelled_array_is_recorded_by_status_and_retried(tmp_path, cleanup):
    study = write_study(tmp_path / "cancel", NOOP, {"h/a": {}}, seeds=(1, 2, 3),
                        scenarios=("s",))
    cleanup[0].append(study)
    ok(cli(study, "run", "--only-seed", "3", "--no-progress"))          # already done
    # the sleep is an override after `--`: part of these runs' fingerprint, so the finished
    # seed 3 (made without it) is stale for this submission; --stale skip leaves it alone
    out = ok(cli(study, "slurm-array", "--submit", "--array-mode", "run", "--max-concurrent",
                 "1", "--timeout-minutes", "5", "--stale", "skip", "--", "sleep=120"))
    assert "2 task(s) for 2 run(s)" in out
    (sub,) = submissions(study)
    poll("the first run to start", lambda: any(
        r.get("status") == "running" for r in records(study).values()))
    status = json.loads(ok(cli(study, "status", "--json")))
    assert status["totals"] == {"success": 1, "running": 1, "pending": 1}
    subprocess.run(["scancel", sub["job_ids"][0]], check=True, timeout=30)

    def both_failed():
        data = json.loads(ok(cli(study, "status", "--json")))
        return data if data["totals"].get("failed") == 2 else None

    data = poll("status to record the cancelled runs", both_failed, timeout=45, interval=1)
    assert {f["error"] for f in data["failed"]} == {"cancelled (Slurm)"}
    recs = records(study)
    for seed in (1, 2):
        rec = recs[f"h__a__s__seed{seed}"]
        assert rec["status"] == "failed"
        assert rec["slurm_job_ref"].startswith(sub["job_ids"][0] + "_")
    # one is retried here, the other on the cluster: only what failed is resubmitted
    out = ok(cli(study, "run", "--retry-failed", "--no-progress", "--only-seed", "1"))
    assert "retry 1" in out and "success 1" in out
    out = ok(cli(study, "submitit", "--retry-failed", "--array-mode", "case",
                 "--timeout-minutes", "5"))
    assert "1 job(s) for 1 run(s)" in out
    assert sorted(submissions(study)[-1]["runs"]) == ["h__a__s__seed2"]
    poll("the resubmitted run", lambda: records(study)["h__a__s__seed2"]["status"] ==
         "success", timeout=45)
    assert {r["status"] for r in records(study).values()} == {"success"}
    assert json.loads(ok(cli(study, "status", "--json")))["totals"] == {"success": 3}


# -- 5. hooks: setup, server (own group), readiness, stop ---------------------------------------

@pytest.mark.parametrize("how", ["submitit", "slurm-array", "runner-template"])
def test_server_hook_is_started_polled_and_stopped_as_a_group(tmp_path, cleanup, how):
    study = write_study(tmp_path / f"hook_{how.replace('-', '_')}", NOOP, {"h/a": {}},
                        seeds=(1,), scenarios=("s",))
    cleanup[0].append(study)
    port = _free_port()
    pidfile = study / "server.pid"
    server = (f"echo $$ > {pidfile}; {PY} -m http.server {port} --bind 127.0.0.1 "
              f"--directory {study} & wait")
    url = f"http://127.0.0.1:{port}/"
    hook_args = ["--setup-command", f"echo 'set, up' > {study}/setup.txt",
                 "--server-command", server, "--server-ready-url", url,
                 "--server-timeout-seconds", "30", "--timeout-minutes", "5"]
    if how == "runner-template":
        name = f"silisocs-test-{uuid.uuid4().hex[:8]}"
        cleanup[1].append(name)
        e = env() | {"SILISOCS_RUNNER_MODULE": "silisocs_study", "SILISOCS_RUNNER_PYTHON": PY,
                     "SILISOCS_REPO_ROOT": str(study),
                     "SILISOCS_HPC_SETUP_COMMAND": f"echo 'set, up' > {study}/setup.txt",
                     "SILISOCS_HPC_SERVER_COMMAND": server,
                     "SILISOCS_HPC_SERVER_READY_URL": url}
        log = study / "runner.log"
        subprocess.run(["sbatch", "--parsable", "--export=ALL", f"--job-name={name}",
                        f"--output={log}", str(ROOT / "slurm_scripts/runner-template.sh"),
                        "--study", str(study), "--repo-root", str(study), "run", "--yes",
                        "--no-progress"], env=e, check=True, capture_output=True, timeout=30)
        logs = [log]
    else:
        ok(cli(study, how, *hook_args, *(["--submit"] if how == "slurm-array" else [])))
        sub = submissions(study)[0]
        logs = [Path(g["log"]) for g in sub.get("groups") or []] or \
            [Path(sub["dir"]) / "logs" / f"{sub['job_ids'][0]}_0.out"]
    recs = poll("the run's record", lambda: final(study, 1), timeout=60)
    assert next(iter(recs.values()))["status"] == "success"
    assert (study / "setup.txt").read_text() == "set, up\n"
    pgid = int(poll("the server's pid file", lambda: pidfile.exists() and
                    pidfile.read_text().strip()))
    poll("the server's whole process group to be gone", lambda: _group_gone(pgid), timeout=30)
    text = poll("the job log", lambda: all(p.exists() for p in logs) and
                " stopped" in "".join(p.read_text() for p in logs) and
                "".join(p.read_text() for p in logs))
    start = {"submitit": "[silisocs-hpc] run: ", "slurm-array": "task 0 of 1: ",
             "runner-template": "run: "}[how]
    assert "GET / HTTP" in text                               # readiness was polled...
    assert text.index("GET / HTTP") < text.index("server ready") < text.index(start)
    assert f"server process group {pgid} stopped" in text     # ...and our stop got it all


# -- 6. a 100-run array loses no record ---------------------------------------------------------

def test_hundred_run_array_loses_no_record(tmp_path, cleanup):
    conds = {f"h/c{i:02d}": {"num_steps": 1} for i in range(50)}
    study = write_study(tmp_path / "hundred", SOCIALSIM, conds, seeds=(1, 2))
    cleanup[0].append(study)
    out = ok(cli(study, "slurm-array", "--submit", "--array-mode", "run", "--runs-per-task",
                 "5", "--timeout-minutes", "10"))
    assert "20 task(s) for 100 run(s)" in out
    recs = poll("100 final records", lambda: final(study, 100), timeout=150, interval=1)
    assert len(recs) == 100
    assert {r["status"] for r in recs.values()} == {"success"}
    assert len({r["run_dir"] for r in recs.values()}) == 100
    assert all((Path(r["run_dir"]) / "run_manifest.json").is_file() for r in recs.values())
    (sub,) = submissions(study)
    assert len(sub["runs"]) == 100
    lock = study / "generated" / "repro_lock.json"
    poll("the views from the finalize job", lambda: lock.exists() and len(
        json.loads(lock.read_text())["records"]) == 100, timeout=60)
    assert json.loads(ok(cli(study, "status", "--json")))["totals"] == {"success": 100}
