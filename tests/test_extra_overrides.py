"""Overrides after ``--`` are part of every run: they win over the study's value for the same
key and are in the job's argv, the record (``overrides``, ``argv``, ``resolved_overrides``),
the fingerprint and ``plan``; the design line folds its own command-line overrides the same
way; keys the planner sets per run are refused."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import (NOOP, assert_ok, cli, hydra_multirun, load_records, noop_doc,
                      write_study)


def result(study: Path, run_id: str) -> dict:
    rec = load_records(study)[run_id]
    return json.loads((Path(rec["output_dir"]) / "result.json").read_text())


def test_an_override_after_dashes_wins_and_is_recorded(tmp_path):
    study = write_study(tmp_path / "study", noop_doc(seeds=[2]))   # condition a: x=1
    run_id = "h1__a__s__seed2"
    plain_plan = json.loads(cli(study, "plan", "--skip-config-check", "--output",
                                str(tmp_path / "p0.json")).stdout and
                            (tmp_path / "p0.json").read_text())
    planned = cli(study, "plan", "--output", str(tmp_path / "p1.json"), "--", "x=5",
                  "+extra_key=3")
    assert_ok(planned)
    assert "Overrides after --: x=5 +extra_key=3" in planned.stdout
    assert "overrides=['x=5', '+extra_key=3']" in planned.stdout
    with_extra = json.loads((tmp_path / "p1.json").read_text())
    assert with_extra["runs"][0]["fingerprint"] != plain_plan["runs"][0]["fingerprint"]
    assert with_extra["groups"]["h1/a"]["override_args"] == ["x=5", "+extra_key=3"]

    assert_ok(cli(study, "run", "--no-progress", "--", "x=5", "+extra_key=3"))
    assert result(study, run_id)["x"] == 5                  # the study said 1: the run got 5
    rec = load_records(study)[run_id]
    assert "x=5" in rec["overrides"] and "x=1" not in rec["overrides"]
    assert "+extra_key=3" in rec["overrides"] and "x=5" in rec["command"]
    assert rec["resolved_overrides"] == {"x": 5, "+extra_key": 3}
    assert rec["fingerprint"] == with_extra["runs"][0]["fingerprint"]

    again = cli(study, "run", "--no-progress", "--", "x=5", "+extra_key=3")
    assert_ok(again)
    assert "skip (complete) 1" in again.stdout        # resume tells the runs apart
    plain = cli(study, "run", "--no-progress")
    assert_ok(plain)
    assert "stale 1," in plain.stdout                  # made with other overrides: rerun
    assert result(study, run_id)["x"] == 1


def test_keys_set_per_run_and_sweeps_are_refused_before_anything_is_written(tmp_path):
    study = write_study(tmp_path / "study", noop_doc(seeds=[2]))
    for bad, words in (("seed=7", "sets 'seed' per run"),
                       ("++output_dir=/tmp/x", "sets 'output_dir' per run"),
                       ("run_name=n", "sets 'run_name' per run"),
                       ("x=1,2", "is a sweep"), ("x=[", "after --")):
        proc = cli(study, "run", "--no-progress", "--", bad)
        assert proc.returncode == 2, (bad, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
        assert not (study / "generated").exists() and not (study / "runs").exists()


def test_the_design_line_folds_its_command_line_overrides(tmp_path):
    study = write_study(tmp_path / "study", noop_doc(seeds=[2]))
    proc = hydra_multirun(NOOP, study, "x=7", sweep_dir=tmp_path / "mr")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = load_records(study)["h1__a__s__seed2"]
    assert result(study, "h1__a__s__seed2")["x"] == 7
    assert "x=7" in rec["overrides"] and "x=1" not in rec["overrides"]
    planned = json.loads(cli(study, "plan", "--skip-config-check", "--output",
                             str(tmp_path / "p.json"), "--", "x=7").stdout and
                         (tmp_path / "p.json").read_text())
    assert rec["fingerprint"] == planned["runs"][0]["fingerprint"]   # CLI and sweeper agree


def test_exact_commands_are_named_as_not_reached(tmp_path):
    doc = noop_doc(seeds=[2])
    doc["hypotheses"]["h1"]["conditions"]["cmd"] = {
        "execution": {"command": ["{python}", "-c", "print('hi')"]}}
    study = write_study(tmp_path / "study", doc)
    proc = cli(study, "plan", "--skip-config-check", "--", "x=5")
    assert_ok(proc)
    assert "do not reach the 1 condition(s) with an exact command" in proc.stderr


def test_an_override_after_dashes_the_app_lacks_is_exit_2_before_anything_runs(tmp_path):
    study = write_study(tmp_path / "study", noop_doc(seeds=[2]))
    for verb in ("plan", "run"):
        proc = cli(study, verb, "--", "no_such_key=1")
        assert proc.returncode == 2, (verb, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert lines[-1].startswith("error: override 'no_such_key=1' after -- does not "
                                    "compose with tests.apps.noop"), lines
        assert not (study / "generated").exists() and not (study / "runs").exists()
