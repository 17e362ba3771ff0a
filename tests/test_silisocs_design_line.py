"""The design line on the real silisocs runner, verbatim, through every launcher:

    python -m silisocs.runtime.runner --multirun hydra/sweeper=study hydra.sweeper.study=S

S is the example study ``examples/studies/silisocs_timeline`` (silisocs' scripted model,
offline; two timeline modes × two seeds, activity + action-metrics evaluators), copied into
tmp. Every launcher must give four successful records whose run folders hold the run's own
output (flat: silisocs reads ``output_rootname``), hashed effective configs, evaluations,
silisocs' checkpoint cadence, and every view; the two conditions really differ.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from silisocs_runs import silisocs_available
from conftest import PY, REPO, assert_ok, cli, load_records, write_study

# find_spec, not an import: importing silisocs' runner runs its @hydra.main(version_base=None),
# which sets Hydra's process-wide version base at collection time for every later test
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not silisocs_available(),
                                                   reason="silisocs needs Python >= 3.11")]

RUNNER = "silisocs.runtime.runner"
EXAMPLE = REPO / "examples" / "studies" / "silisocs_timeline" / "study.yaml"


def example_doc() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def design_line(study: Path, *extra: str, tmp: Path, timeout: float = 600,
                config_path: str | None = None) -> subprocess.CompletedProcess:
    """The design card's command, run from the repository root."""
    cmd = [PY, "-m", RUNNER]
    if config_path:
        cmd += ["--config-path", config_path]
    cmd += ["--multirun", "hydra/sweeper=study", f"hydra.sweeper.study={study}",
            f"hydra.sweep.dir={tmp / 'sweep'}", *extra]
    env = dict(os.environ, HYDRA_FULL_ERROR="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, env=env)


def check_study(study: Path, n: int = 4) -> dict[str, dict]:
    """What every launcher must leave behind."""
    records = load_records(study)
    assert len(records) == n and {r["status"] for r in records.values()} == {"success"}, \
        {k: (r["status"], r.get("error")) for k, r in records.items()}
    likes: dict[str, list[int]] = {}
    for run_id, rec in records.items():
        hyp, cond, scenario, seed = run_id.split("__")
        planned = study / "runs" / hyp / cond / scenario / f"seed_{seed[4:]}" / "run"
        assert rec["run_dir"] == str(planned)
        assert (planned / "action_events.jsonl").is_file()       # flat: no timestamped folder
        assert not [p for p in planned.glob("*/action_events.jsonl")]
        assert (planned / "RUN_COMPLETE.json").is_file()
        assert rec["lock"]["effective_config_sha256"]
        command = " ".join(rec["command"])
        assert f"output_rootname={planned}" in command and "++output_dir" not in command
        assert "sim.checkpoint.every_n_steps=1" in command
        assert sorted(planned.glob("checkpoints/step_*_checkpoint.json"))
        assert [e["status"] for e in rec["evaluations"]] == ["success", "success"]
        activity = json.loads(Path(rec["eval_paths"]["activity"]).read_text())
        assert activity["num_unique_users"] == 4                  # `system` is not an agent
        likes.setdefault(cond, []).append(activity["action_counts"].get("like", 0))
    assert min(likes["chronological"]) > 0 and max(likes["recsys"]) == 0   # they differ
    gen = study / "generated"
    for view in ("repro_lock.json", "repro_lock.jsonl", "study_index.json",
                 "study_enriched.yaml", "organized/summary.json"):
        assert (gen / view).is_file(), view
    lock = json.loads((gen / "repro_lock.json").read_text())
    assert sorted(r["run_id"] for r in lock["records"]) == sorted(records)
    return records


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_study(tmp_path / "study", example_doc())


def test_basic_launcher_runs_every_job_in_one_process(study, tmp_path):
    proc = design_line(study, tmp=tmp_path)
    assert_ok(proc)
    assert "RecursionError" not in proc.stdout + proc.stderr
    records = check_study(study)
    assert len({r["pid"] for r in records.values()}) == 1
    reports = study / "generated" / "reports"       # the design line ends with the report too
    assert f"Report: {reports / 'summary.md'}, {reports / 'report.html'}" in proc.stdout
    page = (reports / "report.html").read_text()
    assert 'class="verdict v-' in page and "h1_timeline" in page
    assert "| h1_timeline |" in (reports / "summary.md").read_text()


def test_joblib_launcher_reuses_its_workers(study, tmp_path):
    proc = design_line(study, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", tmp=tmp_path)
    assert_ok(proc)
    records = check_study(study)
    assert len({r["pid"] for r in records.values()}) < 4     # a worker ran two jobs


def test_submitit_local_launcher(study, tmp_path):
    proc = design_line(study, "hydra/launcher=submitit_local",
                       f"hydra.launcher.submitit_folder={tmp_path / 'submitit'}/%j",
                       "hydra.sweeper.max_batch_size=2", tmp=tmp_path)
    assert_ok(proc)
    records = check_study(study)
    assert len({r["pid"] for r in records.values()}) == 4


def test_cli_run_then_resume_then_force(study, tmp_path):
    first = cli(study, "run", "--no-progress", timeout=600)
    assert_ok(first)
    records = check_study(study)
    assert (study / "generated" / "reports" / "summary.md").is_file()
    again = cli(study, "run", "--no-progress", timeout=600)
    assert_ok(again)
    assert "new 0, retry 0, stale 0, forced 0, skip (complete) 4" in again.stdout
    assert load_records(study) == records                          # nothing ran again

    run_id = "h1_timeline__recsys__default__seed1"
    before = json.loads(Path(records[run_id]["eval_paths"]["activity"]).read_text())
    forced = cli(study, "run", "--force", "--only-run-id", run_id, "--no-progress",
                 timeout=600)
    assert_ok(forced)
    after = load_records(study)[run_id]
    folder = Path(after["run_dir"])
    aside = folder.parent / "run.attempts" / "1"
    assert (aside / "action_events.jsonl").is_file() and (aside / "RUN_COMPLETE.json").is_file()
    assert after.get("previous_attempt_dir") == str(aside)
    now = json.loads(Path(after["eval_paths"]["activity"]).read_text())
    assert now["total_events"] == before["total_events"]          # one attempt, not two


def test_scenario_config_paths_need_no_extra_flag(tmp_path):
    """``config_path: scenarios/{scenario}/conf`` (silisocs' --config-path mechanism): the
    sweeper hands each scenario's runs to a multirun of that config path, checked first."""
    doc = example_doc()
    doc["study"]["scenarios"] = ["alpha", "beta"]
    doc["study"]["run_defaults"]["config_path"] = str(tmp_path / "scenarios/{scenario}/conf")
    doc["study"]["run_defaults"]["seeds"] = [1]
    doc["hypotheses"]["h1_timeline"]["conditions"] = {"cta=plain": {}}
    doc.pop("analysis", None)   # its reference condition is gone with the others
    doc["evaluations"] = [{"id": "activity", "preset": "builtin.activity_summary"}]
    for scenario, mode in (("alpha", "follower_chronological"), ("beta", "pure_recsys")):
        conf = tmp_path / "scenarios" / scenario / "conf"
        conf.mkdir(parents=True)
        (conf / "env.yaml").write_text(yaml.safe_dump(
            {"gm": {"components": {"observe": {"params": {"timeline_mode": mode}}}}}))
    study = write_study(tmp_path / "study", doc)
    proc = design_line(study, tmp=tmp_path)
    assert_ok(proc)
    assert "need another app" not in proc.stdout + proc.stderr
    records = load_records(study)
    assert sorted(records) == ["h1_timeline__cta=plain__alpha__seed1",
                               "h1_timeline__cta=plain__beta__seed1"]
    for run_id, mode in (("h1_timeline__cta=plain__alpha__seed1", "follower_chronological"),
                         ("h1_timeline__cta=plain__beta__seed1", "pure_recsys")):
        rec = records[run_id]
        assert rec["status"] == "success", rec.get("error")
        assert "--config-path" in rec["command"]
        effective = yaml.safe_load((Path(rec["run_dir"]) / "effective_config.yaml").read_text())
        assert effective["env"]["gm"]["components"]["observe"]["params"]["timeline_mode"] == mode


def test_a_bad_override_stops_the_study_at_its_line_before_anything_runs(study, tmp_path):
    doc = example_doc()
    doc["hypotheses"]["h1_timeline"]["conditions"]["recsys"]["overrides"]["sim.llm.nmae"] = "x"
    write_study(study, doc)
    line = next(i for i, text in enumerate((study / "study.yaml").read_text().splitlines(), 1)
                if "sim.llm.nmae" in text)
    planned = cli(study, "plan", timeout=300)
    assert_ok(planned, 2)
    [message] = planned.stderr.splitlines()
    assert message.startswith(f"error: {study / 'study.yaml'}:{line}:")
    assert "Could not override 'sim.llm.nmae'" in message
    proc = design_line(study, tmp=tmp_path)
    assert_ok(proc, 2)
    assert f"study.yaml:{line}:" in proc.stderr
    assert load_records(study) == {}


# -- Slurm ---------------------------------------------------------------------------------

@pytest.mark.slurm
def test_submitit_slurm_launcher(study, tmp_path):
    proc = design_line(study, "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug",
                       f"hydra.launcher.submitit_folder={tmp_path / 'submitit'}/%j",
                       "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1",
                       tmp=tmp_path, timeout=900)
    assert_ok(proc)
    records = check_study(study)
    assert all(r.get("slurm_job_id") or (r.get("provenance") or {}).get("slurm_job_id")
               for r in records.values())


@pytest.mark.slurm
def test_slurm_array_verb(study, tmp_path):
    proc = cli(study, "slurm-array", "--array-mode", "run", "--partition", "debug",
               "--cpus-per-task", "1", "--submit", timeout=300)
    assert_ok(proc)
    deadline = time.time() + 600
    while time.time() < deadline:
        done = [r for r in load_records(study).values() if r["status"] != "running"]
        if len(done) == 4 and (study / "generated" / "organized" / "summary.json").exists():
            break
        time.sleep(2)
    check_study(study)


def test_probe_example_runs_offline(tmp_path):
    """The probe-enabled example: four probe types answered by the scripted model."""
    doc = yaml.safe_load((REPO / "examples/studies/silisocs_probes/study.yaml").read_text())
    study = write_study(tmp_path / "study", doc)
    assert_ok(cli(study, "run", "--no-progress", timeout=600))
    records = load_records(study)
    assert len(records) == 4 and {r["status"] for r in records.values()} == {"success"}
    for rec in records.values():
        assert [e["status"] for e in rec["evaluations"]] == ["success"] * 3
        probes = json.loads(Path(rec["eval_paths"]["probes"]).read_text())
        assert set(probes["probe_labels"]) == {"trust", "mood", "topic", "diary"}
        assert probes["responses_present"] == probes["total_probe_events"] > 0
        detailed = json.loads(Path(rec["eval_paths"]["probe_metrics"]).read_text())
        assert detailed["plots"]["generated_files"]        # real PNGs
        assert all(Path(f).stat().st_size > 1000 for f in detailed["plots"]["generated_files"])


def test_adaptive_rounds_on_the_silisocs_runner(tmp_path):
    """The design line with an adaptive: block on silisocs' own runner: rounds of seeds until
    both contrasts are decided (the scripted model is deterministic: zero spread, so the
    sequence is a point once it is bounded, at 4 seeds), the rest of the six seeds saved."""
    doc = example_doc()
    doc["study"]["run_defaults"]["seeds"] = [1, 2, 3, 4, 5, 6]
    doc["adaptive"] = {"decide": True, "min_seeds": 3, "round_size": 1}
    study = write_study(tmp_path / "study", doc)
    proc = design_line(study, "hydra/launcher=basic", tmp=tmp_path)
    assert_ok(proc)
    assert "adaptive: every arm has stopped" in proc.stdout + proc.stderr
    records = load_records(study)
    seeds = {c: sorted(r["seed"] for r in records.values() if r["condition"] == c)
             for c in ("chronological", "recsys")}
    assert seeds == {"chronological": [1, 2, 3, 4], "recsys": [1, 2, 3, 4]}, seeds
    assert sorted({r["adaptive_round"] for r in records.values()}) == [1, 2]
    status = subprocess.run([PY, "-m", "silisocs_study", "--study", str(study), "--repo-root",
                             str(REPO), "status", "--json"], capture_output=True, text=True,
                            timeout=120, cwd=str(REPO))
    data = json.loads(status.stdout)
    assert data["adaptive"]["seeds_saved"] == 4 and data["totals"]["saved"] == 4
    assert {a["state"] for a in data["adaptive"]["arms"]} == {"decided"}
