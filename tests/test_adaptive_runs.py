"""Adaptive seeds end to end on the synthetic app (tests.apps.effects, known effects):
rounds through `run` and through the design line, resume after a kill, --dry-run, status,
the reports, and every mistake in an adaptive: block as one line at its file and line.

The study: ref (effect 0), large (effect 3) and small (effect 0.3) in one scenario, 12 seeds
listed, decide: true with δ = 1. With Lai's confidence sequence the large contrast is decided
after a handful of seeds; the small one can be neither told from 0 nor shown inside ±1 with
12 seeds, so it runs to the cap — the app is deterministic, so every count below is exact.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PY, REPO, assert_ok, cli, hydra_multirun, kill_group, load_records, \
    write_study

APP = "tests.apps.effects"
SEEDS = 12


def effects_doc(adaptive: dict | None = None, **study_extra) -> dict:
    doc = {
        "schema_version": 1,
        "study": {"name": "effects", "study_id": "effects", "scenarios": ["calm"],
                  "run_defaults": {"runner_module": APP,
                                   "config_path": "tests/apps/effects/conf",
                                   "seed_start": 1, "seed_repeats": SEEDS,
                                   "inject": {"scenario": "scenario"}}, **study_extra},
        "evaluations": [{"id": "fx", "command": ["{python}", "-m", "tests.apps.effects.score"]}],
        "hypotheses": {"h1": {"conditions": {
            "ref": {"overrides": {"effect": 0.0, "arm": "ref"}},
            "large": {"overrides": {"effect": 3.0, "arm": "large"}},
            "small": {"overrides": {"effect": 0.3, "arm": "small"}}}}},
        "analysis": {"metric": "fx.y", "delta": 1.0},
        "adaptive": adaptive if adaptive is not None else
        {"decide": True, "min_seeds": 3, "round_size": 2},
    }
    return doc


def seeds_by_condition(study: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for rec in load_records(study).values():
        out.setdefault(rec["condition"], []).append(rec["seed"])
    return {c: sorted(s) for c, s in out.items()}


def check_outcome(study: Path) -> dict[str, list[int]]:
    """Large stopped early on a prefix of the seeds; small and ref ran all twelve; every
    record says which round launched it, rounds grow with the seed."""
    seeds = seeds_by_condition(study)
    assert seeds["small"] == seeds["ref"] == list(range(1, SEEDS + 1)), seeds
    n_large = len(seeds["large"])
    assert 3 <= n_large < SEEDS and seeds["large"] == list(range(1, n_large + 1)), seeds
    records = load_records(study)
    for rec in records.values():
        assert rec["status"] == "success" and isinstance(rec["adaptive_round"], int)
    for cond in ("ref", "small", "large"):
        rounds = [r["adaptive_round"] for r in sorted(
            (r for r in records.values() if r["condition"] == cond), key=lambda r: r["seed"])]
        assert rounds == sorted(rounds) and rounds[0] == 1, (cond, rounds)
    assert max(r["adaptive_round"] for r in records.values()) >= 4
    return seeds


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_study(tmp_path / "study", effects_doc())


def test_run_stops_each_arm_on_its_own_and_says_so(study):
    proc = cli(study, "run", "--launcher", "basic")
    assert_ok(proc)
    seeds = check_outcome(study)
    saved = SEEDS - len(seeds["large"])
    assert f"Adaptive: 0 arm(s) running, 1 decided, 2 capped; {2 * SEEDS + len(seeds['large'])} " \
           f"of {3 * SEEDS} seeds done, {saved} saved so far" in proc.stdout
    assert "Done in" in proc.stdout and f"selected {2 * SEEDS + len(seeds['large'])}:" in \
        proc.stdout
    # status: the seeds the stopped arm saved are "saved", not pending; one line per arm
    status = cli(study, "status")
    assert_ok(status)
    assert f"saved {saved}" in status.stdout and "pending" not in status.stdout.splitlines()[0]
    assert f"large @ calm: decided supported; {len(seeds['large'])}/{SEEDS} seeds, " \
           f"{saved} saved" in status.stdout
    assert f"small @ calm: capped inconclusive; {SEEDS}/{SEEDS} seeds" in status.stdout
    data = json.loads(cli(study, "status", "--json").stdout)
    assert data["adaptive"]["seeds_saved"] == saved and data["adaptive"]["running"] == 0
    assert data["totals"]["saved"] == saved
    # the reports show the arms and the interval that decides
    reports = study / "generated" / "reports"
    summary = (reports / "summary.md").read_text()
    assert f"| large | calm | decided (supported) | {len(seeds['large'])} / {SEEDS} | {saved} |" \
        in summary
    assert "anytime-valid interval" in summary
    page = (reports / "report.html").read_text()
    assert "arm-decided" in page and "arm-capped" in page and f"saved {saved}" in page
    # nothing is left to run: a second run launches nothing and exits 0
    again = cli(study, "run", "--launcher", "basic")
    assert_ok(again)
    assert "ran nothing" in again.stdout
    assert seeds_by_condition(study) == seeds


@pytest.mark.slow
def test_design_line_runs_the_same_rounds(study, tmp_path):
    other = write_study(tmp_path / "other", effects_doc())
    assert_ok(cli(other, "run", "--launcher", "joblib", "--max-concurrent", "2"))
    proc = hydra_multirun(APP, study, "hydra/launcher=basic", f"hydra.sweeper.repo_root={REPO}",
                          sweep_dir=tmp_path / "sweep",
                          config_path=REPO / "tests" / "apps" / "effects" / "conf")
    assert_ok(proc)
    assert "adaptive: every arm has stopped" in proc.stdout + proc.stderr
    assert check_outcome(study) == check_outcome(other)   # same seeds, launcher or line
    assert (study / "generated" / "reports" / "report.html").is_file()


def test_dry_run_shows_the_next_round_and_runs_nothing(study):
    proc = cli(study, "run", "--dry-run")
    assert_ok(proc)
    assert "Adaptive round 1: 3 arm(s) running" in proc.stdout
    assert "the next round launches 9 run(s)" in proc.stdout      # 3 arms × min_seeds 3
    script = (study / "generated" / "run_study.sh").read_text()
    assert script.count("seed=") >= 9 and "seed=4 " not in script
    assert not load_records(study)


@pytest.mark.slow
def test_a_killed_study_resumes_where_it_stood(study, tmp_path):
    reference = write_study(tmp_path / "reference", effects_doc())
    assert_ok(cli(reference, "run", "--launcher", "basic"))
    cmd = [PY, "-m", "silisocs_study", "--study", str(study), "--repo-root", str(REPO), "run",
           "--launcher", "basic"]
    proc = subprocess.Popen(cmd, cwd=str(REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:   # kill it once round 3 has started recording
            recs = load_records(study) if (study / "generated" / "records").is_dir() else {}
            if any(r.get("adaptive_round") == 3 for r in recs.values()):
                break
            time.sleep(0.05)
        else:
            pytest.fail("round 3 never started")
    finally:
        kill_group(proc.pid)
        proc.wait()
    partial = load_records(study)
    assert len(partial) < len(load_records(reference))
    resumed = cli(study, "run", "--launcher", "basic")
    assert_ok(resumed)
    assert check_outcome(study) == check_outcome(reference)


def test_half_width_goal_runs_each_arm_until_precise(tmp_path):
    doc = effects_doc({"half_width": 1.2, "min_seeds": 3, "round_size": 2})
    doc["study"]["run_defaults"]["seed_repeats"] = 20
    study = write_study(tmp_path / "study", doc)
    assert_ok(cli(study, "run", "--launcher", "basic"))
    data = json.loads(cli(study, "status", "--json").stdout)
    arms = data["adaptive"]["arms"]
    assert {a["role"] for a in arms} == {"mean"}
    for arm in arms:
        if arm["state"] == "decided":
            assert arm["high"] - arm["low"] <= 2 * 1.2 + 1e-9 and arm["attempted"] >= 3
        else:
            assert arm["state"] == "capped" and arm["attempted"] == 20


BAD = [
    ({"decide": True, "half_width": 1}, "give one stopping goal"),
    ({"min_seeds": 3}, "needs a stopping goal"),
    ({"decide": True, "max_seeds": 40}, "max_seeds 40 exceeds the 12 seed(s)"),
    ({"decide": True, "min_seeds": 5, "max_seeds": 4}, "max_seeds 4 is below min_seeds 5"),
    ({"decide": True, "round_sise": 2}, "round_sise"),
    ({"half_width": "ten%"}, "expected a positive number or a share of the mean"),
    ({"decide": True, "hypotheses": {"h9": {"decide": True}}}, "unknown hypothesis 'h9'"),
    ({"decide": True, "alpha": 0.7}, "expected a number in (0, 0.5)"),
    ({"decide": False}, "decide: false is no goal"),
    ({"decide": True, "min_seeds": 1}, "must be >= 2"),
]


@pytest.mark.parametrize("block, message", BAD, ids=[m for _, m in BAD])
def test_a_bad_adaptive_block_is_one_line_at_its_line(tmp_path, block, message):
    study = write_study(tmp_path / "study", effects_doc(block))
    proc = cli(study, "plan")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "study.yaml:" in err and message in err, err
    assert not (study / "generated").exists()


def test_no_metric_anywhere_is_an_error(tmp_path):
    doc = effects_doc()
    del doc["analysis"]
    study = write_study(tmp_path / "study", doc)
    proc = cli(study, "plan")
    assert proc.returncode == 2 and "needs a metric" in proc.stderr, proc.stderr


def test_a_hypothesis_can_opt_out(tmp_path):
    doc = effects_doc({"decide": True, "min_seeds": 3,
                       "hypotheses": {"h1": {"enabled": False}}})
    study = write_study(tmp_path / "study", doc)
    assert_ok(cli(study, "run", "--launcher", "basic"))
    assert {c: len(s) for c, s in seeds_by_condition(study).items()} == {
        "ref": SEEDS, "large": SEEDS, "small": SEEDS}
    assert all(r.get("adaptive_round") is None for r in load_records(study).values())


def test_sample_mode_experiment_is_refused(tmp_path):
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        "scenario.s:\n  runner_module: tests.apps.noop\n"
        "experiment.e:\n  scenario: !ref s\n  path: out/e_{seq}\n  name: '{x}_s{seed}'\n"
        "  axes:\n    x: [1, 2]\n    seeds: 6\n  mode: sample\n  samples: 4\n"
        "  analysis: {metric: score}\n  adaptive: {decide: true}\n")
    proc = subprocess.run([PY, "-m", "silisocs_study", "--study", str(spec), "plan"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "exp.yaml:" in proc.stderr and "adaptive needs mode: iterate" in proc.stderr


def test_the_api_runs_rounds_and_shows_the_arms(tmp_path, monkeypatch):
    import silisocs_study

    study = write_study(tmp_path / "study", effects_doc())
    monkeypatch.chdir(REPO)
    results = silisocs_study.run(str(study / "study.yaml"), repo_root=REPO)
    seeds = check_outcome(study)
    assert len(results) == sum(len(s) for s in seeds.values())   # only runs that ran
    analysis = silisocs_study.analyze(str(study / "study.yaml"), repo_root=REPO)
    arms = analysis.arms.set_index("condition")
    assert arms.loc["large", "state"] == "decided" and arms.loc["small", "state"] == "capped"
    assert arms.loc["large", "attempted"] == len(seeds["large"])
    assert arms.loc["large", "saved"] == SEEDS - len(seeds["large"])
    row = analysis.contrasts[(analysis.contrasts.condition == "large")
                             & analysis.contrasts.pooled].iloc[0]
    assert row.cs_low <= row.estimate <= row.cs_high and row.cs_low > 0
    assert analysis.verdicts.iloc[0]["interval"] == "confseq"


@pytest.mark.slow
def test_raising_max_seeds_continues_the_capped_arms(tmp_path):
    """max_seeds is a hard cap; raised, the capped arms run on from where they stopped and
    the decided one stays as it was (nothing reruns)."""
    study = write_study(tmp_path / "study", effects_doc(
        {"decide": True, "min_seeds": 3, "round_size": 2, "max_seeds": 8}))
    assert_ok(cli(study, "run", "--launcher", "basic"))
    first = seeds_by_condition(study)
    assert first["small"] == first["ref"] == list(range(1, 9)), first
    assert len(first["large"]) < 8, first
    stamps = {k: r["finished_at"] for k, r in load_records(study).items()}
    write_study(study, effects_doc({"decide": True, "min_seeds": 3, "round_size": 2}))
    assert_ok(cli(study, "run", "--launcher", "basic"))
    assert check_outcome(study)["large"] == first["large"]
    records = load_records(study)
    assert all(records[k]["finished_at"] == t for k, t in stamps.items())   # none reran
