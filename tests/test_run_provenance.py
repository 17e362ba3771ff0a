"""What a record says about how a run was made, and that it is enough to make it again;
and per-condition config paths (one multirun per primary config directory)."""
from __future__ import annotations

import pytest

import hashlib
import json
import platform
import shutil
import socket
import subprocess
from datetime import datetime
from importlib import metadata
from pathlib import Path

import yaml

from conftest import (ISO_MS_UTC, PY, REPO, SOCIALSIM_CONF, assert_ok, cli, hydra_multirun,
                      load_records, noop_doc, socialsim_doc, write_study)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_record_provenance_and_its_command_reproduces_the_run(tmp_path):
    study = write_study(tmp_path / "study", socialsim_doc(seeds=[3], evaluations=False))
    assert_ok(cli(study, "run"))
    records = load_records(study)
    assert len(records) == 2
    rec = records["h1__recsys__election_recsys_engagement__seed3"]

    prov = rec["provenance"]
    assert prov["git_commit"] == git("rev-parse", "HEAD")
    assert prov["git_branch"] == git("rev-parse", "--abbrev-ref", "HEAD")
    assert isinstance(prov["git_dirty"], bool)
    if prov["git_dirty"]:
        assert len(prov["git_diff_sha256"]) == 64
    else:
        assert prov["git_diff_sha256"] is None
    assert prov["uv_lock_sha256"] == hashlib.sha256((REPO / "uv.lock").read_bytes()).hexdigest()
    assert prov["python"] == platform.python_version()
    assert prov["python_executable"] == PY
    for name in ("hydra-core", "omegaconf", "silisocs-study"):
        assert prov["packages"][name] == metadata.version(name)
    assert prov["host"] == socket.gethostname()
    assert prov["pid"] == rec["pid"]

    for key in ("started_at", "finished_at"):
        assert ISO_MS_UTC.match(rec[key]), rec[key]
    started = datetime.fromisoformat(rec["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(rec["finished_at"].replace("Z", "+00:00"))
    assert started <= finished and rec["duration_ms"] > 0
    assert rec["exit_code"] == 0 and rec["error"] is None and rec["error_tail"] == []
    assert rec["launcher"] == "BasicLauncher" and rec["status"] == "success"
    assert rec["fingerprint"] and rec["config_path"] == str(SOCIALSIM_CONF)
    assert rec["resolved_overrides"]["num_agents"] == 5
    run_dir = Path(rec["run_dir"])
    assert rec["lock"]["effective_config_sha256"] == hashlib.sha256(
        (run_dir / "effective_config.yaml").read_bytes()).hexdigest()

    # the record's argv alone makes the same run again, byte for byte
    argv = rec["command"]
    assert argv[:3] == [PY, "-m", "examples.socialsim"]
    assert f"++output_dir={run_dir}" in argv and "seed=3" in argv
    kept = tmp_path / "first_run"
    shutil.move(str(run_dir), kept)
    again = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert_ok(again)
    for name in ("action_events.jsonl", "probe_events.jsonl"):
        first = (kept / name).read_bytes()
        assert first and (run_dir / name).read_bytes() == first, name


def test_per_job_searchpath_cannot_replace_the_primary_config(tmp_path):
    """Verified here: a per-job ``hydra.searchpath`` override (a study override, so it lands
    in that job's override list) IS applied when the job's config is composed — a config
    group that exists only in the added directory can be selected — but the primary config
    (``config_name``) still comes from the app's primary config directory, which wins the
    search. So a condition cannot switch its primary config dir per job: the design starts
    one multirun per distinct ``config_path`` (``--config-path``), which the next test runs.
    """
    other = tmp_path / "conf_b"
    (other / "extra").mkdir(parents=True)
    (other / "config.yaml").write_text(
        (REPO / "tests" / "apps" / "noop" / "conf" / "config.yaml").read_text()
        .replace("x: 0", "x: 99"))
    (other / "extra" / "opt.yaml").write_text("y: 1\n")
    doc = noop_doc({"b": {"overrides": {"hydra.searchpath": [f"file://{other}"],
                                        "+extra": "opt"}}}, seeds=[1])
    study = write_study(tmp_path / "study", doc)
    assert_ok(cli(study, "run"))
    [rec] = load_records(study).values()
    run_dir = Path(rec["run_dir"])
    composed = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert composed["extra"] == {"y": 1}           # the added search path was used
    assert composed["x"] == 0                      # but not for the primary config
    assert json.loads((run_dir / "result.json").read_text())["x"] == 0
    sources = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())[
        "hydra"]["runtime"]["config_sources"]
    main = [s["path"] for s in sources if s["provider"] == "main"]
    assert main == [str(REPO / "tests" / "apps" / "noop" / "conf")]


@pytest.mark.slow
def test_conditions_with_their_own_config_dirs(tmp_path):
    conf_a, conf_b = tmp_path / "conf_a", tmp_path / "conf_b"
    shutil.copytree(SOCIALSIM_CONF, conf_a)
    shutil.copytree(SOCIALSIM_CONF, conf_b)
    for conf, agents in ((conf_a, 5), (conf_b, 7)):  # a changed default, not overridden
        text = (conf / "config.yaml").read_text()
        assert "num_agents: 50" in text
        (conf / "config.yaml").write_text(text.replace("num_agents: 50", f"num_agents: {agents}"))
    doc = socialsim_doc({"a": {"config_path": str(conf_a)}, "b": {"config_path": str(conf_b)}},
                        evaluations=False)
    del doc["study"]["run_defaults"]["overrides"]["num_agents"]
    study = write_study(tmp_path / "study", doc)

    # the sweeper launches the runs of its own config dir in this process and hands b's runs
    # to a multirun of the same app with b's config dir
    direct = hydra_multirun("examples.socialsim", study, sweep_dir=tmp_path / "mr",
                            config_path=conf_a)
    assert_ok(direct)
    assert f"launching 2 run(s) through examples.socialsim --config-path {conf_b}" in \
        direct.stdout
    records = load_records(study)
    assert sorted(r["condition"] for r in records.values()) == ["a", "a", "b", "b"]
    pids = {r["condition"]: {r["pid"] for r in records.values() if r["condition"] == c}
            for c in ("a", "b") for r in records.values() if r["condition"] == c}
    assert len(pids["a"]) == 1 and len(pids["b"]) == 1 and pids["a"] != pids["b"]

    proc = cli(study, "run", "--force")   # the CLI: one multirun per config dir
    assert_ok(proc)
    assert f"--config-path {conf_b}" in proc.stdout and f"--config-path {conf_a}" in proc.stdout
    records = load_records(study)
    assert len(records) == 4
    for rec in records.values():
        conf, agents = (conf_a, 5) if rec["condition"] == "a" else (conf_b, 7)
        assert rec["status"] == "success" and rec["config_path"] == str(conf)
        run_dir = Path(rec["run_dir"])
        assert json.loads((run_dir / "run_manifest.json").read_text())["num_agents"] == agents
        sources = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())[
            "hydra"]["runtime"]["config_sources"]
        assert [s["path"] for s in sources if s["provider"] == "main"] == [str(conf)]
