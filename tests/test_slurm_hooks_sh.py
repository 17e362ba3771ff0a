"""slurm_scripts/hooks.sh: the one copy of the job hooks that both Slurm templates source.

Real bash, a real HTTP server, no cluster: the runner template runs outside Slurm (and as
a spooled copy under a faked sbatch submit directory), the array template runs with a
faked SLURM_ARRAY_TASK_ID from an env.sh that names hooks.sh — the way slurm-array writes it.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from silisocs_study.cli import main
from silisocs_study.hpc.submission import env_lines

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SCRIPTS = ROOT / "slurm_scripts"
HOOKS_SH = SCRIPTS / "hooks.sh"
ARRAY = SCRIPTS / "study-array-template.sh"
RUNNER = SCRIPTS / "runner-template.sh"
HOOK_FUNCTIONS = ("stop_server", "http_ready", "run_hooks")

# a module run by the runner template: it fails unless the server answers already
PROBE = """\
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError:
    pass                                  # a 404 is an answer: the server is up
open(sys.argv[2], "w").write("ran")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would point the templates somewhere else."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SILISOCS_"))}
    env["SILISOCS_HPC_SERVER_STOP_GRACE"] = "5"
    env.update(extra)
    return env


def _server_hooks(tmp_path: Path) -> dict[str, str]:
    """Setup writes a file; the server is a shell that starts a child and waits, so
    stopping it needs the whole process group; the ready URL answers 404 (ready)."""
    port = _free_port()
    return {
        "SILISOCS_HPC_SETUP_COMMAND": f"echo 'set, up' > {tmp_path}/setup.txt",
        "SILISOCS_HPC_SERVER_COMMAND": (
            f"echo $$ > {tmp_path}/server.pid; {PY} -m http.server {port} "
            f"--bind 127.0.0.1 --directory {tmp_path} & wait"),
        "SILISOCS_HPC_SERVER_READY_URL": f"http://127.0.0.1:{port}/missing",
        "SILISOCS_HPC_SERVER_TIMEOUT_SECONDS": "30",
    }


def _check_hooks_ran(tmp_path: Path, proc: subprocess.CompletedProcess, start: str) -> None:
    err = proc.stderr
    assert proc.returncode == 0, err + proc.stdout
    assert (tmp_path / "setup.txt").read_text() == "set, up\n"
    assert (tmp_path / "ran").read_text() == "ran"
    pgid = int((tmp_path / "server.pid").read_text())
    assert _gone(pgid), "the server's process group outlived the job"
    assert err.index("setup: ") < err.index("server: ") < err.index("server ready: ") \
        < err.index(start) < err.index(f"stopping server process group {pgid}") \
        < err.index(f"server process group {pgid} stopped")


def _one_line_exit_2(proc: subprocess.CompletedProcess, prefix: str) -> str:
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix) and "hooks.sh not found" in lines[0]
    return lines[0]


# -- one copy ----------------------------------------------------------------------------------

def test_both_templates_source_hooks_sh_and_define_no_hook_function():
    defined = re.compile(r"^\s*(?:function\s+)?([A-Za-z_]\w*)\s*\(\)\s*\{", re.M)
    assert set(defined.findall(HOOKS_SH.read_text())) == set(HOOK_FUNCTIONS)
    for template in (ARRAY, RUNNER):
        text = template.read_text()
        assert defined.findall(text) == [], f"{template.name} defines functions"
        assert 'source "$HOOKS_SH"' in text
        code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        assert not re.search(r"\b(trap|setsid|curl|kill)\b", code), template.name
        assert "\nrun_hooks\n" in text


def test_sourcing_hooks_sh_only_defines_the_functions_and_the_traps(tmp_path):
    out = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source "$1"; declare -F; trap -p; '
                       'echo "SERVER_PID=[$SERVER_PID]"', "x", str(HOOKS_SH)],
        env=_env(), cwd=tmp_path, capture_output=True, text=True, check=True, timeout=30)
    assert out.stderr == ""
    assert sorted(re.findall(r"declare -f (\S+)", out.stdout)) == sorted(HOOK_FUNCTIONS)
    assert "trap -- 'stop_server' EXIT" in out.stdout
    assert "trap -- 'exit 143' SIGTERM" in out.stdout
    assert "trap -- 'exit 130' SIGINT" in out.stdout
    assert "SERVER_PID=[]" in out.stdout
    assert list(tmp_path.iterdir()) == []
    ran = subprocess.run(["bash", str(HOOKS_SH)], env=_env(), capture_output=True, text=True,
                         timeout=30)
    assert ran.returncode == 2 and "source it" in ran.stderr


def test_templates_and_hooks_sh_are_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    proc = subprocess.run(["shellcheck", str(HOOKS_SH), str(ARRAY), str(RUNNER)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# -- the runner template -------------------------------------------------------------------------

def test_runner_template_outside_slurm_runs_the_hooks_and_stops_the_servers_group(tmp_path):
    (tmp_path / "probe_mod.py").write_text(PROBE)
    hooks = _server_hooks(tmp_path)
    env = _env(SILISOCS_RUNNER_MODULE="probe_mod", SILISOCS_RUNNER_PYTHON=PY,
               SILISOCS_REPO_ROOT=str(tmp_path), **hooks)
    # as documented: `bash slurm_scripts/runner-template.sh ...` from the repo root, so the
    # script's own path is relative and hooks.sh is found beside it
    proc = subprocess.run(["bash", "slurm_scripts/runner-template.sh",
                           hooks["SILISOCS_HPC_SERVER_READY_URL"], str(tmp_path / "ran")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    _check_hooks_ran(tmp_path, proc, "run: ")


def test_runner_template_as_a_spooled_copy_finds_hooks_sh_in_the_submit_dir(tmp_path):
    spool = tmp_path / "spool" / "job42"
    spool.mkdir(parents=True)
    script = spool / "slurm_script"                 # what slurmd runs: a copy, alone
    shutil.copy(RUNNER, script)
    env = _env(SILISOCS_RUNNER_MODULE="probe_mod", SILISOCS_RUNNER_PYTHON=PY,
               SLURM_SUBMIT_DIR=str(ROOT), SILISOCS_REPO_ROOT=str(tmp_path),
               **_server_hooks(tmp_path))
    (tmp_path / "probe_mod.py").write_text(PROBE)
    proc = subprocess.run(["bash", str(script), env["SILISOCS_HPC_SERVER_READY_URL"],
                           str(tmp_path / "ran")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    _check_hooks_ran(tmp_path, proc, "run: ")


def test_runner_template_without_hooks_sh_is_a_one_line_error(tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(RUNNER, alone / "runner-template.sh")
    setup = f"touch {tmp_path}/setup-ran"
    base = _env(SILISOCS_RUNNER_MODULE="json.tool", SILISOCS_RUNNER_PYTHON=PY,
                SILISOCS_HPC_SETUP_COMMAND=setup)
    cases = {
        "beside": {},                                                # no fallback left
        "submit dir": {"SLURM_SUBMIT_DIR": str(tmp_path)},           # no slurm_scripts there
        "named": {"SILISOCS_HOOKS_SH": str(tmp_path / "nope.sh"),   # named, missing: no
                  "SLURM_SUBMIT_DIR": str(ROOT)},                    # silent fallback
    }
    for name, extra in cases.items():
        proc = subprocess.run(["bash", str(alone / "runner-template.sh")], cwd=tmp_path,
                              env=base | extra, capture_output=True, text=True, timeout=30)
        line = _one_line_exit_2(proc, "runner-template: ")
        if name == "submit dir":
            assert str(tmp_path / "slurm_scripts" / "hooks.sh") in line
        if name == "named":
            assert str(tmp_path / "nope.sh") in line
    assert not (tmp_path / "setup-ran").exists()
    # SILISOCS_HOOKS_SH from SILISOCS_ENV_FILE wins over the copy beside the script
    env_file = tmp_path / "env.sh"
    env_file.write_text(env_lines({"SILISOCS_HOOKS_SH": str(tmp_path / "nope.sh")}))
    proc = subprocess.run(["bash", str(RUNNER)], cwd=tmp_path,
                          env=base | {"SILISOCS_ENV_FILE": str(env_file)},
                          capture_output=True, text=True, timeout=30)
    assert str(tmp_path / "nope.sh") in _one_line_exit_2(proc, "runner-template: ")


# -- the array template --------------------------------------------------------------------------

def _submission(tmp_path: Path, values: dict[str, str]) -> Path:
    """A submission folder by hand: env.sh and one task that runs a command directly."""
    sub = tmp_path / "sub"
    (sub / "tasks").mkdir(parents=True)
    (tmp_path / "probe.py").write_text(PROBE)
    url = values.get("SILISOCS_HPC_SERVER_READY_URL", "http://127.0.0.1:9/")
    argv = [PY, str(tmp_path / "probe.py"), url, str(tmp_path / "ran")]
    (sub / "tasks" / "0.argv").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    (sub / "env.sh").write_text(env_lines({
        "SILISOCS_SUBMISSION_DIR": str(sub), "SILISOCS_REPO_ROOT": str(tmp_path),
        "SILISOCS_RUNNER_PYTHON": PY, "SILISOCS_N_TASKS": "1", **values}))
    return sub


def test_array_template_runs_the_hooks_sh_its_env_sh_names(tmp_path):
    sub = _submission(tmp_path, {"SILISOCS_HOOKS_SH": str(HOOKS_SH), **_server_hooks(tmp_path)})
    spool = tmp_path / "spool"
    spool.mkdir()
    shutil.copy(ARRAY, spool / "slurm_script")      # no hooks.sh beside it: env.sh decides
    proc = subprocess.run(["bash", str(spool / "slurm_script"), str(sub), "0"],
                          cwd=tmp_path, env=_env(SLURM_ARRAY_TASK_ID="0"),
                          capture_output=True, text=True, timeout=120)
    _check_hooks_ran(tmp_path, proc, "task 0 of 1: one run: ")


def test_array_template_without_hooks_sh_in_env_sh_is_a_one_line_error(tmp_path):
    setup = {"SILISOCS_HPC_SETUP_COMMAND": f"touch {tmp_path}/setup-ran"}
    # not named (no fallback beside the script: inside a job that is Slurm's spool dir);
    # named but missing, while the environment names the real one: env.sh wins
    for values, environ in (({}, {}), ({"SILISOCS_HOOKS_SH": str(tmp_path / "nope.sh")},
                                       {"SILISOCS_HOOKS_SH": str(HOOKS_SH)})):
        sub = _submission(tmp_path, values | setup)
        proc = subprocess.run(["bash", str(ARRAY), str(sub), "0"], cwd=tmp_path,
                              env=_env(SLURM_ARRAY_TASK_ID="0", **environ),
                              capture_output=True, text=True, timeout=30)
        line = _one_line_exit_2(proc, "study-array-template: ")
        assert str(sub / "env.sh") in line
        shutil.rmtree(sub)
    assert not (tmp_path / "setup-ran").exists()
    assert not (tmp_path / "ran").exists()


# -- slurm-array names hooks.sh in env.sh ------------------------------------------------------

STUDY = """\
schema_version: 1
study:
  name: hookssh
  study_id: hookssh
  scenarios: [s1]
  run_defaults:
    runner_module: tests.apps.noop
    config_path: {conf}
    seeds: [11]
hypotheses:
  h1:
    conditions:
      c: {{overrides: {{x: 1}}}}
"""


def _hooks_sh_in_env(study: Path, *base_script: str) -> str:
    args = ["--study", str(study), "--repo-root", str(study), "slurm-array",
            "--array-mode", "run", "--skip-config-check"]
    if base_script:
        args += ["--base-script", *base_script]
    assert main(args) == 0
    subs = sorted(p for p in (study / "generated" / "slurm").iterdir() if p.is_dir())
    env = subs[-1] / "env.sh"
    got = subprocess.run(["bash", "-c", 'source "$1"; printf %s "$SILISOCS_HOOKS_SH"', "x",
                          str(env)], capture_output=True, text=True, check=True).stdout
    shutil.rmtree(subs[-1])   # the next call submits the same run again
    return got


def test_slurm_array_names_the_hooks_sh_beside_the_base_script_else_the_repos(
        tmp_path, capsys, monkeypatch):
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.yaml").write_text(STUDY.format(conf=ROOT / "tests/apps/noop/conf"))
    monkeypatch.chdir(tmp_path)                      # no slurm_scripts/ in the cwd
    assert _hooks_sh_in_env(study) == str(HOOKS_SH)  # the default template: the repo's
    copy = tmp_path / "site" / "my-array.sh"         # a user's copy, alone
    copy.parent.mkdir()
    shutil.copy(ARRAY, copy)
    assert _hooks_sh_in_env(study, str(copy)) == str(HOOKS_SH)
    shutil.copy(HOOKS_SH, copy.parent / "hooks.sh")  # ...with its own hooks.sh beside it
    assert _hooks_sh_in_env(study, "site/my-array.sh") == str(copy.parent / "hooks.sh")
    capsys.readouterr()
