"""The Slurm verbs without a cluster: plan slices, grouping, flags, env files, hooks,
templates, and reconciling records against a faked Slurm.

Everything here runs in a few seconds on any machine; tests that submit real jobs live in
tests/test_slurm_jobs.py.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from silisocs_study.cli import main
from silisocs_study.hpc import reconcile as rc
from silisocs_study.hpc import slurm
from silisocs_study.hpc.groups import make_tasks
from silisocs_study.hpc.hooks import HookError, Hooks, is_ready, run_with_hooks
from silisocs_study.planfile import plan_from_json, read_rows, row_ranges, write_plan_json
from silisocs_study.hpc.submission import append_submission, env_lines, read_submissions
from silisocs_study.jobs import job_document
from silisocs_study.ledger import Ledger
from silisocs_study.ledger.records import utc_now
from silisocs_study.plan import Filters, build_plan
from silisocs_study.spec import load_study

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TEMPLATE = ROOT / "slurm_scripts" / "study-array-template.sh"
RUNNER_TEMPLATE = ROOT / "slurm_scripts" / "runner-template.sh"

STUDY = """\
schema_version: 1
study:
  name: units
  study_id: units
  scenarios: [s1, s2]
  run_defaults:
    runner_module: tests.apps.noop
    config_path: {conf}
    seeds: [11, 12, 13]
hypotheses:
  h1:
    conditions:
      chronological: {{overrides: {{x: 1}}}}
      recsys: {{overrides: {{x: 2}}, sub_experiment: sub}}
  h2:
    conditions:
      chronological: {{seeds: [11]}}
"""


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    (tmp_path / "study.yaml").write_text(STUDY.format(conf=ROOT / "tests/apps/noop/conf"))
    return tmp_path


def _plan(study_dir: Path, filters: Filters | None = None):
    return build_plan(load_study(study_dir, study_dir), filters)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", "/tmp/silisocs-pycache")
    return env


# -- plan slices ----------------------------------------------------------------------------

def _hostile(tmp_path: Path):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_plan import hostile_study  # the planner's nastiest study
    finally:
        sys.path.remove(str(ROOT / "tests"))
    root = tmp_path / "repo with 'quotes' and $dollar"
    (root / "old run").mkdir(parents=True)
    (root / "study.yaml").write_text(hostile_study(root), encoding="utf-8")
    return build_plan(load_study(root / "study.yaml", root))


@pytest.mark.parametrize("which", ["hostile", "mutualism", "hypersearch"])
def test_plan_rebuilt_from_plan_json_rows_gives_identical_job_documents(tmp_path, which):
    if which == "hostile":
        plan = _hostile(tmp_path)
    else:
        plan = build_plan(load_study(ROOT / f"examples/experiments/{which}.yaml", tmp_path))
    out = tmp_path / "plan.json"
    write_plan_json(plan, out, PY)
    head_len, ranges = row_ranges(out.read_bytes())
    assert len(ranges) == len(plan.runs)
    picked = list(range(len(plan.runs)))[::-3]          # any subset, any order
    head, rows = read_rows(out, head_len, [ranges[i] for i in picked])
    rebuilt = plan_from_json(head, rows)
    assert [r.run_id for r in rebuilt.runs] == [plan.runs[i].run_id for i in picked]
    for i, run in zip(picked, rebuilt.runs, strict=True):
        want = job_document(plan.study, plan.runs[i], PY, session="s")
        assert job_document(rebuilt.study, run, PY, session="s") == want


# -- grouping -------------------------------------------------------------------------------

def test_groups_keep_every_user_filter(study_dir):
    user = Filters.parse(seed="11", sub_experiment="sub")
    plan = _plan(study_dir, user)
    tasks = make_tasks(plan.runs, "case", user)
    assert [t.label for t in tasks] == ["h1/recsys"]
    assert {r.seed for r in tasks[0].runs} == {11}
    args = tasks[0].filters.as_args()
    assert args == ["--only-hypothesis", "h1", "--only-condition", "recsys",
                    "--only-sub-experiment", "sub", "--only-seed", "11"]
    # the job's own filters select exactly the group's runs again
    again = _plan(study_dir, tasks[0].filters)
    assert [r.run_id for r in again.runs] == tasks[0].run_ids


@pytest.mark.parametrize("mode,expected", [
    ("case", ["h1/chronological", "h1/recsys", "h2/chronological"]),
    ("seed", ["h1/chronological/seed11", "h1/chronological/seed12",
              "h1/recsys/seed11", "h1/recsys/seed12", "h2/chronological/seed11"]),
    ("hypothesis", ["h1", "h2"]),
])
def test_group_filters_reproduce_each_group(study_dir, mode, expected):
    user = Filters.parse(seed="11,12")
    plan = _plan(study_dir, user)
    tasks = make_tasks(plan.runs, mode, user)
    assert [t.label for t in tasks] == expected
    assert sum(len(t.runs) for t in tasks) == len(plan.runs)
    for t in tasks:
        assert [r.run_id for r in _plan(study_dir, t.filters).runs] == t.run_ids


def test_run_mode_packs_runs_per_task(study_dir):
    plan = _plan(study_dir)
    tasks = make_tasks(plan.runs, "run", Filters(), 5)
    assert [len(t.runs) for t in tasks] == [5, 5, 4]
    assert [r for t in tasks for r in t.run_ids] == [r.run_id for r in plan.runs]


# -- flags ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["submitit", "--max-concurrent", "0"], "--max-concurrent must be a positive"),
    (["submitit", "--mem-gb", "-1"], "--mem-gb must be a positive"),
    (["submitit", "--partition", "a b"], "--partition must be a non-empty word"),
    (["submitit", "--server-ready-url", "http://127.0.0.1:1/"], "needs --server-command"),
    (["submitit", "--server-command", "x", "--server-ready-url", "ftp://x"],
     "must be an http(s) URL"),
    (["slurm-array", "--runs-per-task", "3"], "use it with --array-mode run"),
    (["slurm-array", "--array-mode", "run", "--runs-per-task", "0"],
     "--runs-per-task must be a positive"),
    (["slurm-array", "--base-script", "/nonexistent.sh"], "no such file"),
    (["slurm-array", "--only-seed", "99"], "--only-seed: no run has '99'"),
    (["slurm-array", "--timeout-minutes", "-5"], "--timeout-minutes must be a positive"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(study_dir, capsys, argv, message):
    code = main(["--study", str(study_dir), "--repo-root", str(study_dir), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (study_dir / "generated").exists()


def test_submitit_dry_run_prints_group_commands_with_user_filters(study_dir, capsys):
    code = main(["--study", str(study_dir), "--repo-root", str(study_dir), "submitit",
                 "--dry-run", "--array-mode", "seed", "--only-seed", "12", "--retry-failed",
                 "--timeout-seconds", "30", "--", "sleep=0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 job(s) for 4 run(s)" in out
    line = next(ln for ln in out.splitlines() if "[h1/recsys/seed12]" in ln)
    assert "run --yes --no-progress --retry-failed --timeout-seconds 30 --only-hypothesis h1 " \
           "--only-condition recsys --only-seed 12 -- sleep=0" in line
    assert f"--repo-root {study_dir}" in line and "Dry run" in out
    assert not (study_dir / "generated" / "slurm").exists()


def test_slurm_array_without_submit_writes_the_submission_and_prints_sbatch(
        study_dir, capsys, monkeypatch):
    monkeypatch.setattr(slurm, "max_array_size", lambda: 4)   # force a split array
    code = main(["--study", str(study_dir), "--repo-root", str(study_dir), "slurm-array",
                 "--array-mode", "run", "--max-concurrent", "2", "--partition", "debug",
                 "--setup-command", "echo 'a, b' \"c\" $HOME", "--only-hypothesis", "h1"])
    out = capsys.readouterr().out
    assert code == 0, out
    sub = next((study_dir / "generated" / "slurm").iterdir())
    meta = json.loads((sub / "tasks.json").read_text())
    assert len(meta["tasks"]) == 12 and all(len(t["run_ids"]) == 1 for t in meta["tasks"])
    cmds = [ln for ln in (sub / "sbatch.sh").read_text().splitlines()
            if ln.startswith("sbatch")]
    arrays = [c for c in cmds if "--array=" in c]
    assert [c.split("--array=")[1].split()[0] for c in arrays] == ["0-3%2"] * 3
    assert [c.rsplit(" ", 1)[1] for c in arrays] == ["0", "4", "8"]          # offsets
    assert all("--export=ALL " in c and "--partition=debug" in c for c in arrays)
    assert "--dependency=afterany:JOBIDS" in cmds[-1]
    assert "Not submitted" in out
    assert not (study_dir / "generated" / "slurm" / "submissions.jsonl").exists()
    # env.sh keeps commas, quotes and dollars when a shell sources it
    got = subprocess.run(["bash", "-c", f"source {sub / 'env.sh'}; "
                          "printf %s \"$SILISOCS_HPC_SETUP_COMMAND\""],
                         capture_output=True, text=True, check=True).stdout
    assert got == "echo 'a, b' \"c\" $HOME"


def test_env_file_round_trips_hostile_values(tmp_path):
    values = {"A": "h1,h2", "B": "it's \"q\" $(x) `y`", "C": "two\nlines", "D": "ü ✓ ,="}
    env = tmp_path / "env.sh"
    env.write_text(env_lines(values))
    out = subprocess.run(["bash", "-c", f"source {env}; env -0"], capture_output=True,
                         check=True).stdout.decode()
    got = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    assert {k: got[k] for k in values} == values


# -- the array template and the task verb, run locally ---------------------------------------

@pytest.mark.slow
def test_array_template_runs_its_slice_locally_and_skips_out_of_range(study_dir, capsys):
    assert main(["--study", str(study_dir), "--repo-root", str(study_dir), "slurm-array",
                 "--array-mode", "run", "--runs-per-task", "3", "--only-seed", "11",
                 "--only-hypothesis", "h1"]) == 0
    capsys.readouterr()
    sub = next((study_dir / "generated" / "slurm").iterdir())
    meta = json.loads((sub / "tasks.json").read_text())
    assert [len(t["run_ids"]) for t in meta["tasks"]] == [3, 1]
    env = _env() | {"SLURM_ARRAY_TASK_ID": "0"}
    proc = subprocess.run(["bash", str(TEMPLATE), str(sub), "1"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    records = Ledger(study_dir / "generated").all()
    assert set(records) == set(meta["tasks"][1]["run_ids"])          # task 1 only
    assert all(r["status"] == "success" for r in records.values())
    proc = subprocess.run(["bash", str(TEMPLATE), str(sub), "1"],
                          env=env | {"SLURM_ARRAY_TASK_ID": "7"}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "out of range" in proc.stdout


def test_templates_are_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    proc = subprocess.run(["shellcheck", str(TEMPLATE), str(RUNNER_TEMPLATE)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# -- hooks ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _server(tmp_path: Path, port: int) -> str:
    # a shell that starts a child (the server) and waits: the whole group must go
    return (f"echo $$ > {tmp_path}/server.pid; {PY} -m http.server {port} "
            f"--bind 127.0.0.1 --directory {tmp_path} & wait")


def test_hooks_wait_for_the_server_and_stop_its_whole_group(tmp_path):
    port = _free_port()
    marker = tmp_path / "ran"
    hooks = Hooks(setup_command=f"echo setup > {tmp_path}/setup.txt",
                  server_command=_server(tmp_path, port),
                  server_ready_url=f"http://127.0.0.1:{port}/missing", server_timeout_seconds=30)
    cmd = ["bash", "-c", f"curl -s -o /dev/null http://127.0.0.1:{port}/ && touch {marker}"]
    assert run_with_hooks(cmd, cwd=str(tmp_path), hooks=hooks) == 0
    assert marker.exists(), "the command ran before the server answered"  # 404 counted ready
    assert (tmp_path / "setup.txt").read_text() == "setup\n"
    assert _gone(int((tmp_path / "server.pid").read_text()))


def test_hooks_stop_the_server_when_the_command_fails(tmp_path):
    port = _free_port()
    hooks = Hooks(server_command=_server(tmp_path, port),
                  server_ready_url=f"http://127.0.0.1:{port}/", server_timeout_seconds=30)
    assert run_with_hooks(["bash", "-c", "exit 3"], cwd=str(tmp_path), hooks=hooks) == 3
    assert _gone(int((tmp_path / "server.pid").read_text()))


def test_hook_failures(tmp_path):
    with pytest.raises(HookError, match="setup command exited with code 4"):
        run_with_hooks(["true"], cwd=str(tmp_path), hooks=Hooks(setup_command="exit 4"))
    with pytest.raises(HookError, match="exited with code 5 before"):
        run_with_hooks(["true"], cwd=str(tmp_path), hooks=Hooks(
            server_command="exit 5", server_ready_url=f"http://127.0.0.1:{_free_port()}/",
            server_timeout_seconds=20))
    start = time.monotonic()
    with pytest.raises(HookError, match="not ready"):
        run_with_hooks(["true"], cwd=str(tmp_path), hooks=Hooks(
            server_command="sleep 30", server_ready_url=f"http://127.0.0.1:{_free_port()}/",
            server_timeout_seconds=1.5))
    assert time.monotonic() - start < 15


def test_readiness_counts_2xx_to_4xx_only():
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(int(self.path.strip("/")))
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        assert [is_ready(f"{base}/{c}") for c in (200, 204, 302, 404, 499, 500, 503)] == \
            [True, True, True, True, True, False, False]
        assert not is_ready(f"http://127.0.0.1:{_free_port()}/")
    finally:
        srv.shutdown()
        srv.server_close()


# -- reconcile against a faked Slurm ----------------------------------------------------------

def test_job_ids_and_states_parse():
    assert slurm.expand_job_id("12_[0-2,5%3]") == ["12_0", "12_1", "12_2", "12_5"]
    assert slurm.expand_job_id("12_7") == ["12_7"]
    assert slurm._parse_states("12_[3-4%1]|PENDING\n12_0|CANCELLED by 0\n13|COMPLETED\n") == \
        {"12_3": "PENDING", "12_4": "PENDING", "12_0": "CANCELLED", "13": "COMPLETED"}


def test_reconcile_marks_ended_jobs_and_shows_queued_ones(study_dir, monkeypatch, capsys):
    study = load_study(study_dir, study_dir)
    plan = build_plan(study)
    ids = [r.run_id for r in plan.runs]
    gen = study.generated
    append_submission(gen, {"id": "sub1", "kind": "slurm-array", "submitted_at": utc_now(),
                            "runs": {ids[0]: "7_0", ids[1]: "7_1", ids[2]: "7_2",
                                     ids[3]: "7_3", ids[4]: "7_4", ids[5]: "7_5"}})
    assert [s["id"] for s in read_submissions(gen)] == ["sub1"]
    # ids[5] reported success after the submission: settled, Slurm is not asked about it
    job = job_document(study, plan.runs[5], PY, session="x")
    Ledger(gen).write({"run_id": ids[5], "status": "success", "finished_at": utc_now(),
                       "fingerprint": plan.runs[5].fingerprint})
    # ids[1] is running in its job
    Ledger(gen).write({**{k: job[k] for k in ("study_id",)}, "run_id": ids[1],
                       "status": "running", "started_at": utc_now(),
                       "slurm_array_job_id": "7", "slurm_array_task_id": "1"})
    asked = []

    def fake_states(refs):
        refs = list(refs)
        asked.extend(refs)
        return {"7_0": "PENDING", "7_1": "CANCELLED", "7_2": "TIMEOUT", "7_3": None,
                "7_4": "OUT_OF_MEMORY"}

    monkeypatch.setattr(rc, "job_states", fake_states)
    records = rc.reconcile_slurm(study, Ledger(gen).all())
    assert sorted(asked) == ["7_0", "7_1", "7_2", "7_3", "7_4"]
    assert records[ids[0]]["status"] == "pending" and ids[0] not in Ledger(gen).all()
    assert (records[ids[1]]["status"], records[ids[1]]["error"]) == \
        ("failed", "cancelled (Slurm)")
    assert records[ids[2]]["status"] == "timeout"
    assert ids[3] not in records                                  # unknown yet: untouched
    assert records[ids[4]]["status"] == "failed" and "out of memory" in records[ids[4]]["error"]
    written = Ledger(gen).all()
    assert written[ids[1]]["error"] == "cancelled (Slurm)"
    assert written[ids[1]]["started_at"] is not None              # the same attempt, ended
    assert written[ids[2]]["slurm_job_ref"] == "7_2"
    # `status` shows it, and asks Slurm only about what is still open
    asked.clear()
    assert main(["--study", str(study_dir), "--repo-root", str(study_dir), "status",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["failed"] == 2 and data["totals"]["timeout"] == 1
    assert sorted(asked) == ["7_0", "7_3"]


def test_status_without_submissions_never_calls_slurm(study_dir, monkeypatch, capsys):
    def boom(refs):
        raise AssertionError("Slurm asked")

    monkeypatch.setattr(rc, "job_states", boom)
    assert main(["--study", str(study_dir), "--repo-root", str(study_dir), "status"]) == 0
    assert "pending 14" in capsys.readouterr().out


def test_hooks_env_for_the_templates():
    env = Hooks("a", "b", "http://x/", 12.0).env()
    assert env == {"SILISOCS_HPC_SETUP_COMMAND": "a", "SILISOCS_HPC_SERVER_COMMAND": "b",
                   "SILISOCS_HPC_SERVER_READY_URL": "http://x/",
                   "SILISOCS_HPC_SERVER_TIMEOUT_SECONDS": "12"}


def test_array_task_never_loads_or_expands_the_study(study_dir, capsys, monkeypatch):
    """The task reads its rows of the submission's plan.json; with a study sweeper that
    takes ``plan_file`` not even the sweeper it starts needs the study file."""
    from silisocs_study.hpc import task as task_mod

    assert main(["--study", str(study_dir), "--repo-root", str(study_dir), "slurm-array",
                 "--array-mode", "run", "--runs-per-task", "2", "--only-hypothesis", "h2"]) == 0
    capsys.readouterr()
    sub = next((study_dir / "generated" / "slurm").iterdir())

    def boom(*a, **k):
        raise AssertionError("the task loaded or expanded the study")

    import silisocs_study.plan
    import silisocs_study.spec

    monkeypatch.setattr(silisocs_study.spec, "load_study", boom)
    monkeypatch.setattr(silisocs_study.plan, "build_plan", boom)
    (study_dir / "study.yaml").rename(study_dir / "moved.yaml")  # the task needs only plan.json
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    assert task_mod.run_array_task(sub, 0) == 0
    out = capsys.readouterr().out
    assert "task 0: 2 ok, 0 not ok" in out
    records = Ledger(study_dir / "generated").all()
    assert sorted(records) == ["h2__chronological__s1__seed11", "h2__chronological__s2__seed11"]
    log = next((study_dir / "generated" / "logs").glob("run_*.log")).read_text()
    assert "hydra.sweeper.plan_file=" in log
    assert not (study_dir / "generated" / "plan.json").exists()


DIRECT_STUDY = """\
schema_version: 1
study:
  name: direct
  study_id: direct
  scenarios: [s]
  run_defaults:
    runner_module: tests.apps.noop
    config_path: {conf}
    seeds: [1]
hypotheses:
  h:
    conditions:
      ok: {{overrides: {{x: "a, 'b' \\"c\\" $HOME *"}}}}
      raise: {{overrides: {{fail: raise}}}}
      exit: {{overrides: {{fail: exit}}}}
      pair: {{seeds: [1, 2]}}
"""


@pytest.mark.slow
def test_one_run_tasks_start_their_app_directly(tmp_path, capsys):
    """A one-run task runs the app itself (no task process, no multirun): the value survives
    byte for byte, the callback records success and failure, a hard crash is left to reconcile."""
    (tmp_path / "study.yaml").write_text(DIRECT_STUDY.format(conf=ROOT / "tests/apps/noop/conf"))
    assert main(["--study", str(tmp_path), "--repo-root", str(tmp_path), "slurm-array",
                 "--array-mode", "case", "--timeout-minutes", "5"]) == 0
    capsys.readouterr()
    sub = next((tmp_path / "generated" / "slurm").iterdir())
    meta = json.loads((sub / "tasks.json").read_text())
    index = {t["label"].split("/")[1]: i for i, t in enumerate(meta["tasks"])}
    assert sorted(p.name for p in (sub / "tasks").iterdir()) == sorted(
        f"{index[c]}.argv" for c in ("ok", "raise", "exit"))          # not the two-run task
    env = _env()

    def task(cond: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(TEMPLATE), str(sub), "0"],
                              env=env | {"SLURM_ARRAY_TASK_ID": str(index[cond])},
                              capture_output=True, text=True, timeout=120)

    proc = task("ok")
    assert proc.returncode == 0 and "one run:" in proc.stderr, proc.stderr
    rec = Ledger(tmp_path / "generated").read("h__ok__s__seed1")
    assert rec["status"] == "success" and rec["session"] == sub.name
    assert json.loads((Path(rec["output_dir"]) / "result.json").read_text())["x"] == \
        "a, 'b' \"c\" $HOME *"
    proc = task("raise")
    rec = Ledger(tmp_path / "generated").read("h__raise__s__seed1")
    assert proc.returncode == 1 and rec["status"] == "failed" and "injected failure" in rec["error"]
    proc = task("exit")
    rec = Ledger(tmp_path / "generated").read("h__exit__s__seed1")
    assert proc.returncode == 3 and rec["status"] == "running"         # sacct reconcile's job
    proc = task("pair")                                                 # the task path
    assert proc.returncode == 0 and "silisocs_study task" in proc.stderr
    assert {Ledger(tmp_path / "generated").read(f"h__pair__s__seed{s}")["status"]
            for s in (1, 2)} == {"success"}
