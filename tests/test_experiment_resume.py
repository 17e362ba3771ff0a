"""Experiments resume: a plain ``run`` continues the latest unfinished ``{seq}`` folder (a new
one only when the latest is complete, its spec changed, or ``--new``); ``status``, ``report``
and ``organize`` read the latest folder or ``--workspace``; a folder's ``_spec_.yaml`` (or the
folder itself) is a valid ``--study``. Real benchmark runs through the real CLI."""
from __future__ import annotations

import pytest

import json
import subprocess
import sys
from pathlib import Path

from test_experiment_run import folders, spec

BODY = """
    experiment.tiny:
      scenario: !ref base
      path: data/experiments/tiny_{date}_{seq}
      name: "{agent}_s{seed}"
      axes: {agents: [cooperative, greedy], seeds: 2}
    """


def sweep(tmp: Path, study: Path | str, verb: str, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "silisocs_study", "--study", str(study), "--repo-root",
            str(tmp), verb, *(["--no-progress"] if verb == "run" else []), *extra]
    return subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=300)


def ok(proc: subprocess.CompletedProcess, code: int = 0) -> str:
    assert proc.returncode == code, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_run_continues_the_latest_unfinished_folder(tmp_path):
    path = spec(tmp_path, BODY, rounds=5)
    ok(sweep(tmp_path, path, "run", "--only-run-id", "greedy_s0"))   # 1 of 4, then stopped
    (one,) = folders(tmp_path, "tiny")
    first = {p.name: p.read_bytes() for p in (one / "generated" / "records").glob("*.json")}

    out = ok(sweep(tmp_path, path, "run"))
    assert f"Experiment folder: {one} (continuing" in out
    assert "new 3," in out and "skip (complete) 1" in out
    assert folders(tmp_path, "tiny") == [one]
    after = {p.name: p.read_bytes() for p in (one / "generated" / "records").glob("*.json")}
    assert after["greedy_s0.json"] == first["greedy_s0.json"]          # not run again
    assert len(after) == 4

    out = ok(sweep(tmp_path, path, "run"))                # complete: a fresh replicate
    assert f"new: {one.name} is complete" in out
    one_, two = folders(tmp_path, "tiny")
    assert two.name.endswith("_002") and "new 4," in out

    ok(sweep(tmp_path, path, "run", "--only-run-id", "greedy_s1", "--new"))
    three = folders(tmp_path, "tiny")[-1]
    assert three.name.endswith("_003")
    out = ok(sweep(tmp_path, path, "run", "--new", "--only-run-id", "cooperative_s0"))
    assert folders(tmp_path, "tiny")[-1].name.endswith("_004")   # --new: never continue


def test_a_changed_spec_starts_a_new_folder(tmp_path):
    path = spec(tmp_path, BODY, rounds=5)
    ok(sweep(tmp_path, path, "run", "--only-run-id", "greedy_s0"))
    spec(tmp_path, BODY, rounds=6)                        # same grid, other run settings
    out = ok(sweep(tmp_path, path, "run", "--only-run-id", "greedy_s0"))
    one, two = folders(tmp_path, "tiny")
    assert f"new: the spec changed since {one.name}" in out


@pytest.mark.slow
def test_status_report_and_organize_read_the_latest_folder_or_the_named_one(tmp_path):
    path = spec(tmp_path, BODY, rounds=5)
    before = json.loads(ok(sweep(tmp_path, path, "status", "--json")))
    assert before["totals"] == {"pending": 4}                 # nothing run yet
    ok(sweep(tmp_path, path, "run"))
    (one,) = folders(tmp_path, "tiny")
    status = ok(sweep(tmp_path, path, "status"))
    assert f"Experiment folder: {one}" in status and "Study tiny: success 4" in status
    ok(sweep(tmp_path, path, "run", "--new", "--only-run-id", "greedy_s1"))
    one_, two = folders(tmp_path, "tiny")
    latest = json.loads(ok(sweep(tmp_path, path, "status", "--json")))
    assert latest["totals"] == {"success": 1, "pending": 3}
    named = json.loads(ok(sweep(tmp_path, path, "status", "--json", "--workspace", str(one))))
    assert named["totals"] == {"success": 4}
    for verb in ("report", "organize"):
        out = ok(sweep(tmp_path, path, verb, "--workspace", str(one)))
        assert str(one) in out, (verb, out)


@pytest.mark.slow
def test_spec_copy_and_folder_are_valid_studies(tmp_path):
    path = spec(tmp_path, BODY, rounds=5)
    ok(sweep(tmp_path, path, "run", "--only-run-id", "greedy_s0"))
    ok(sweep(tmp_path, path, "run", "--new", "--only-run-id", "greedy_s1"))
    one, two = folders(tmp_path, "tiny")
    copy = one / "_spec_.yaml"
    status = json.loads(ok(sweep(tmp_path, copy, "status", "--json")))
    assert status["totals"] == {"success": 1, "pending": 3}      # folder one, not the latest
    plan = ok(sweep(tmp_path, one, "plan", "--skip-config-check"))
    assert f"Workspace: {one}" in plan
    out = ok(sweep(tmp_path, copy, "run"))                        # continues that folder
    assert f"Experiment folder: {one} (resuming)" in out and "new 3," in out
    assert folders(tmp_path, "tiny") == [one, two]
    assert str(one) in ok(sweep(tmp_path, one, "report"))

    path.rename(tmp_path / "moved.yaml")                          # its spec file is gone
    gone = sweep(tmp_path, copy, "status")
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1
    assert "spec file" in gone.stderr and "no longer exists" in gone.stderr


def test_the_api_continues_too_and_new_starts_a_folder(tmp_path, capsys):
    import silisocs_study

    path = spec(tmp_path, BODY, rounds=5)
    part = silisocs_study.run(path, repo_root=tmp_path, run_id="greedy_s0")
    assert [r["run_id"] for r in part] == ["greedy_s0"]
    rest = silisocs_study.run(path, repo_root=tmp_path)
    assert len(rest) == 4 and {r["status"] for r in rest} == {"success"}
    (one,) = folders(tmp_path, "tiny")
    fresh = silisocs_study.run(path, repo_root=tmp_path, new=True, run_id="greedy_s1")
    assert len(fresh) == 1 and len(folders(tmp_path, "tiny")) == 2
    assert "(continuing" in capsys.readouterr().out


def test_declining_the_launch_prompt_keeps_a_continued_folders_files(tmp_path):
    """Answering no to 'Launch N run(s)?' gives back a folder claimed just now, never the
    files of the folder being continued."""
    import os
    import pty

    body = BODY.replace("seeds: 2", "seeds: 30")          # 60 runs: the prompt appears
    path = spec(tmp_path, body, rounds=5)
    ok(sweep(tmp_path, path, "run", "--only-run-id", "greedy_s0"))
    (one,) = folders(tmp_path, "tiny")
    before = (one / "_spec_.yaml").read_bytes()
    argv = [sys.executable, "-m", "silisocs_study", "--study", str(path), "--repo-root",
            str(tmp_path), "run", "--no-progress", "--skip-config-check"]
    pid, fd = pty.fork()
    if pid == 0:   # the child: stdin is a terminal, so run asks before 59 launches
        os.chdir(tmp_path)
        os.execv(sys.executable, argv)
    out = b""
    while b"[y/N]" not in out:
        chunk = os.read(fd, 4096)
        assert chunk, out
        out += chunk
    os.write(fd, b"n\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2, out.decode(errors="replace")
    assert b"Nothing launched." in out
    assert (one / "_spec_.yaml").read_bytes()[:40] == before[:40]   # still there
    assert folders(tmp_path, "tiny") == [one]
