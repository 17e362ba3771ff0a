"""Exact-command runs (``execution.command``) through the built-in command app, timeouts that
kill the whole process group, and ``reuse_existing`` runs recorded without launching."""
from __future__ import annotations

import pytest

import json
import subprocess
import time
from pathlib import Path


from conftest import (PY, assert_ok, cli, load_records, natural, noop_doc, pid_alive,
                      view_run_ids, write_study)

WRITER = """\
import os, sys, pathlib
run_id, seed, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
target = out / run_id
target.mkdir(parents=True, exist_ok=True)
(target / "result.txt").write_text(f"{run_id} {seed} {os.environ['SILISOCS_RUN_ID']}")
print("wrote", target)
"""


def test_exact_commands_run_and_a_timeout_kills_the_whole_process_group(tmp_path):
    (tmp_path / "write.py").write_text(WRITER)
    out = tmp_path / "out"
    pids = tmp_path / "pids"
    pids.mkdir()
    conds = {
        "cmd": {"seeds": [2, 10], "execution": {"command": [
            "{python}", str(tmp_path / "write.py"), "{run_id}", "{seed}", str(out)]}},
        # the shell starts a grandchild sleep, records its pid, and waits on it
        "hang": {"seeds": [2], "execution": {"command": [
            "bash", "-c", f"sleep 300 & echo $! > {pids}/{{run_id}}.pid; wait"]}},
    }
    study = write_study(tmp_path / "study", noop_doc(conds))
    started = time.time()
    proc = cli(study, "run", "--timeout-seconds", "3")
    assert_ok(proc, 1)
    assert time.time() - started < 60
    assert "silisocs_study.launch.command_app" in proc.stdout
    records = load_records(study)
    for seed in (2, 10):
        run_id = f"h1__cmd__s__seed{seed}"
        rec = records[run_id]
        assert rec["status"] == "success", rec
        assert (out / run_id / "result.txt").read_text() == f"{run_id} {seed} {run_id}"
        assert rec["command"] == [PY, str(tmp_path / "write.py"), run_id, str(seed), str(out)]
        assert rec["runner_module"] is None and rec["launcher"] == "BasicLauncher"
        log = Path(rec["log_path"])
        assert log.name == "command.log" and f"wrote {out / run_id}" in log.read_text()
    hang = records["h1__hang__s__seed2"]
    assert hang["status"] == "timeout", hang
    assert "timed out after 3s" in hang["error"]
    assert any("TIMEOUT" in line for line in hang["error_tail"])
    grandchild = int((pids / "h1__hang__s__seed2.pid").read_text())
    for _ in range(50):
        if not pid_alive(grandchild):
            break
        time.sleep(0.1)
    assert not pid_alive(grandchild), "the command's grandchild survived the timeout"
    status = cli(study, "status")
    assert "[timeout] h1__hang__s__seed2: CommandFailed: command timed out" in status.stdout


def make_source_run(tmp_path: Path) -> Path:
    src = tmp_path / "earlier" / "run"
    proc = subprocess.run([PY, "-m", "examples.socialsim", "num_agents=5", "num_steps=2",
                           "seed=7", f"output_dir={src}",
                           f"hydra.run.dir={tmp_path / 'earlier' / 'hydra'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert_ok(proc)
    return src


def test_reuse_existing_runs_are_recorded_without_launching(tmp_path):
    src = make_source_run(tmp_path)
    before = sorted(p.name for p in src.iterdir())
    doc = {
        "schema_version": 1,
        "study": {"name": "reuse", "scenarios": ["election_recsys_engagement"],
                  "run_defaults": {"runner_module": "examples.socialsim", "seeds": [7]}},
        "hypotheses": {"h1": {"conditions": {
            "old": {"execution": {"mode": "reuse_existing", "re_evaluate": True},
                    "reuse": {"runs": [{"source": str(src), "seed": 7}]},
                    "evaluations": [{"id": "action_metrics",
                                     "preset": "builtin.action_metrics_detailed"}]},
            "plain": {"execution": {"mode": "reuse_existing"},
                      "reuse": {"runs": [{"source": str(src), "seed": 7}]}}}}},
    }
    study = write_study(tmp_path / "study", doc)
    proc = cli(study, "run")
    assert_ok(proc)
    assert "reuse 2" in proc.stdout and "Launching" not in proc.stdout
    assert not (study / "generated" / "hydra").exists()    # no multirun was started
    records = load_records(study)
    assert sorted(records) == ["h1__old__reuse_0", "h1__plain__reuse_0"]
    old = records["h1__old__reuse_0"]
    assert old["status"] == "reused" and old["run_dir"] == str(src) and old["command"] == []
    [ev] = old["evaluations"]
    assert ev["status"] == "success"
    out = Path(ev["path"])
    assert out.is_relative_to(study / "generated" / "eval" / "h1" / "old" / "reuse_0")
    assert json.loads(out.read_text())["aggregated"]["num_agents"] == 5
    assert records["h1__plain__reuse_0"]["evaluations"] == []   # no re_evaluate
    assert sorted(p.name for p in src.iterdir()) == before     # the source is untouched
    assert view_run_ids(study)["repro_lock.json"] == natural(records)
    # nothing to do the second time
    again = cli(study, "run")
    assert_ok(again)
    assert "skip (complete) 2" in again.stdout and "reuse 0" in again.stdout
    assert {k: r["attempt_id"] for k, r in load_records(study).items()} == \
        {k: r["attempt_id"] for k, r in records.items()}


@pytest.mark.slow
def test_a_runner_job_over_its_timeout_is_recorded_as_timeout(tmp_path):
    """--timeout-seconds also bounds ordinary (runner) jobs: the callback arms an alarm in
    the job's process; the job fails with JobTimeout and is recorded ``timeout``."""
    doc = noop_doc({"quick": {}, "stuck": {"overrides": {"sleep": 60}}}, seeds=[2])
    study = write_study(tmp_path / "study", doc)
    started = time.time()
    proc = cli(study, "run", "--timeout-seconds", "2")
    assert_ok(proc, 1)
    assert time.time() - started < 40
    records = load_records(study)
    assert records["h1__quick__s__seed2"]["status"] == "success"
    stuck = records["h1__stuck__s__seed2"]
    assert stuck["status"] == "timeout" and "JobTimeout" in stuck["error"], stuck


@pytest.mark.slow   # ~20 s: keeps the README command under 8 minutes
def test_run_dir_placeholder_names_the_run_folder_of_an_exact_command(tmp_path):
    conds = {"cmd": {"seeds": [2, 10], "execution": {"command": [
        "bash", "-c", 'echo "{{\\"seed\\": {seed}}}" > {run_dir}/result.json; '
                      'test "{run_dir}" = "$SILISOCS_RUN_DIR"']}}}
    study = write_study(tmp_path / "study", noop_doc(conds))
    planned = cli(study, "plan", "--skip-config-check", "--output", str(tmp_path / "p.json"))
    assert_ok(planned)
    rows = json.loads((tmp_path / "p.json").read_text())["runs"]
    assert all("{run_dir}" not in " ".join(r["command"]) for r in rows)
    assert_ok(cli(study, "run", "--no-progress"))
    for run_id, rec in load_records(study).items():
        assert rec["status"] == "success", rec.get("error")
        assert json.loads((Path(rec["output_dir"]) / "result.json").read_text()) == \
            {"seed": rec["seed"]}
    bad = noop_doc({"cmd": {"execution": {"command": ["echo", "{run_folder}"]}}})
    proc = cli(write_study(tmp_path / "bad", bad), "plan", "--skip-config-check")
    assert proc.returncode == 2 and "run_folder" in proc.stderr
