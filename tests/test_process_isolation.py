"""Jobs that share a process stay isolated (basic launcher: one process; joblib: reused
workers). The test app (``tests/apps/hijack``) changes stdout/stderr (like silisocs' runner),
root logging handlers, cwd, the environment, signal handlers and warning filters, restores
none of it, and records what state it found when it started. Under the study sweeper every
job must find the state the first one found. The control — the same app under Hydra's own
basic sweeper — shows the leak is real, so the test can fail.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import PY, REPO, assert_ok, hydra_multirun, load_records, noop_doc, write_study

APP = "tests.apps.hijack"
CLEAN_KEYS = ("stdout", "stderr", "cwd", "env", "sigterm", "sigusr1", "leftover_handlers",
              "hijack_filter")


def _study(tmp_path: Path) -> Path:
    doc = noop_doc(seeds=(1, 2, 3, 4))
    doc["study"]["run_defaults"]["runner_module"] = APP
    doc["hypotheses"]["h1"]["conditions"] = {"a": {}}
    return write_study(tmp_path / "study", doc)


def _seen(study: Path) -> list[dict]:
    files = sorted(study.glob("runs/h1/a/s/seed_*/run/seen.json"))
    assert len(files) == 4, files
    return [json.loads(f.read_text()) for f in files]


@pytest.mark.parametrize("launcher", [["hydra/launcher=basic"],
                                      ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
                         ids=["basic", "joblib"])
def test_every_job_finds_the_state_the_first_one_found(tmp_path, launcher):
    study = _study(tmp_path)
    proc = hydra_multirun(APP, study, *launcher, sweep_dir=tmp_path / "sweep", cwd=REPO)
    assert_ok(proc)
    assert "RecursionError" not in proc.stdout + proc.stderr
    seen = _seen(study)
    pids = [s["pid"] for s in seen]
    assert len(set(pids)) < len(pids), "no two jobs shared a process: nothing was tested"
    first = {k: seen[0][k] for k in CLEAN_KEYS}
    assert first["env"] is None and first["leftover_handlers"] == 0
    assert first["stdout"] != "LoggerStream" and not first["hijack_filter"]
    for s in seen[1:]:
        assert {k: s[k] for k in CLEAN_KEYS} == first
    records = load_records(study)
    assert [r["status"] for r in records.values()] == ["success"] * 4


def test_without_the_study_callback_the_state_leaks(tmp_path):
    """Hydra's own basic sweeper runs the same jobs: the first job's stdout adapter makes the
    process recurse, and the second job never runs — the silisocs failure."""
    out = tmp_path / "out"
    proc = subprocess.run([PY, "-m", APP, "--multirun", "seed=1,2", f"hydra.sweep.dir={out}",
                           "output_dir=${hydra:runtime.output_dir}"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "RecursionError" in proc.stdout + proc.stderr
    assert (out / "0" / "seen.json").is_file() and not (out / "1" / "seen.json").exists()


def test_a_failed_job_is_reported_with_its_error_on_the_console(tmp_path):
    doc = noop_doc(conditions={"ok": {}, "bad": {"overrides": {"fail": "raise"}}}, seeds=(1,))
    study = write_study(tmp_path / "study", doc)
    proc = hydra_multirun("tests.apps.noop", study, sweep_dir=tmp_path / "sweep", cwd=REPO)
    assert_ok(proc, 1)
    assert "[silisocs-sweep] 1 of 2 run(s) failed" in proc.stderr
    assert "[failed] h1__bad__s__seed1: RuntimeError: noop: injected failure" in proc.stderr
