"""The `plan` and `schema` verbs, in-process and as `python -m silisocs_study`."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from silisocs_study.cli import main
from silisocs_study.plan import argv, build_plan
from silisocs_study.planfile import argv_from_plan_row
from silisocs_study.spec import load_study

ROOT = Path(__file__).resolve().parents[1]

STUDY = """
schema_version: 1
study:
  name: Cli Study
  study_id: cli_study
  question: Does the CLI work?
  scenarios: [a, b]
  run_defaults: {runner_module: app.main, seed_start: 5, seed_repeats: 3}
evaluations: [{id: acts, preset: builtin.activity_summary}]
hypotheses:
  h1:
    conditions:
      c1: {}
      c2: {sub_experiment: sub}
  h2:
    conditions:
      c1: {seeds: [40]}
"""


@pytest.fixture
def study_dir(tmp_path):
    (tmp_path / "study.yaml").write_text(textwrap.dedent(STUDY))
    return tmp_path


def test_plan_prints_table_and_first_runs(study_dir, capsys):
    assert main(["--study", str(study_dir), "--repo-root", str(study_dir), "plan",
                 "--first", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Study: Cli Study (cli_study)  [study]"
    assert "Question: Does the CLI work?" in out
    assert "Runs: 14" in out
    header = next(i for i, l in enumerate(out) if l.split()[:4] == ["hypothesis", "condition",
                                                                       "mode", "runs"])
    rows = [l.split() for l in out[header + 2:header + 5]]
    assert rows == [["h1", "c1", "run", "6", "a,b", "5..7", "(3)", "acts"],
                    ["h1", "c2", "run", "6", "a,b", "5..7", "(3)", "acts"],
                    ["h2", "c1", "run", "2", "a,b", "40", "acts"]]
    first = out.index("First runs:")
    assert out[first + 1:first + 5] == [
        "  - h1__c1__a__seed5  mode=run scenario=a seed=5",
        "  - h1__c1__a__seed6  mode=run scenario=a seed=6",
        "  - h1__c1__a__seed7  mode=run scenario=a seed=7",
        "  ... and 11 more"]


def test_plan_output_with_repeated_filters_and_study_after_the_verb(study_dir, tmp_path,
                                                                    capsys, monkeypatch):
    monkeypatch.setenv("RUN_STUDY_PYTHON", "/custom/python")
    out = tmp_path / "nested" / "plan.json"
    assert main(["plan", "--study", str(study_dir), "--repo-root", str(study_dir),
                 "--output", str(out), "--only-hypothesis", "h1", "--only-hypothesis", "h2",
                 "--only-seed", "5,40", "--only-condition", "c1"]) == 0
    text = capsys.readouterr().out
    assert "Runs: 4 of 14" in text and f"Plan written: {out}" in text
    doc = json.loads(out.read_text())
    assert [r["run_id"] for r in doc["runs"]] == [
        "h1__c1__a__seed5", "h1__c1__b__seed5", "h2__c1__a__seed40", "h2__c1__b__seed40"]
    assert (doc["total_runs"], doc["selected_runs"], doc["python"]) == (14, 4, "/custom/python")
    assert doc["filters"]["seeds"] == [5, 40] and doc["filters"]["hypotheses"] == ["h1", "h2"]
    assert set(doc["groups"]) == {"h1/c1", "h2/c1"}
    plan = build_plan(load_study(study_dir, study_dir))
    by_id = {r.run_id: r for r in plan.runs}
    for row in doc["runs"]:
        assert argv_from_plan_row(doc, row) == argv(by_id[row["run_id"]], "/custom/python")
        assert row["fingerprint"] == by_id[row["run_id"]].fingerprint


def test_unknown_filter_id_exits_2_and_writes_nothing(study_dir, tmp_path, capsys):
    out = tmp_path / "plan.json"
    code = main(["--study", str(study_dir), "plan", "--output", str(out),
                 "--only-condition", "c1,c9"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == "error: --only-condition: no run has 'c9'\n"
    assert not out.exists()


def test_missing_study_flag(capsys):
    assert main(["plan"]) == 2
    assert capsys.readouterr().err == "error: --study PATH is required\n"


@pytest.mark.parametrize("spec, runs", [
    ("examples/experiments/mutualism.yaml", 30),
    ("examples/experiments/hypersearch.yaml", 30),
    ("examples/studies/recsys_behavior_sweep", 6),
])
def test_examples_plan_cleanly_through_the_cli(spec, runs, tmp_path):
    out = tmp_path / "plan.json"
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", "--study", spec,
                           "--repo-root", str(tmp_path), "plan", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    if spec.startswith("examples/studies"):
        # its config_path is relative to the repo root, and this repo root has none: the
        # composition check cannot start the app here, which is a warning, not an error
        conf = tmp_path / "examples" / "socialsim" / "conf"
        assert proc.stderr.startswith(f"warning: config check skipped for examples.socialsim "
                                      f"--config-path {conf}: it did not start here"), proc.stderr
        assert proc.stderr.count("\n") == 1
    else:
        assert proc.stderr == ""
    assert f"Runs: {runs}" in proc.stdout.splitlines()
    doc = json.loads(out.read_text())
    assert len(doc["runs"]) == runs
    assert len({r["run_id"] for r in doc["runs"]}) == runs
    assert len({r["output_dir"] for r in doc["runs"]}) == runs
    assert not (tmp_path / "data").exists()   # planning allocates no experiment folder


def test_schema_verb_prints_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert len(schema["oneOf"]) == 2
    assert main(["schema", "--format", "experiment"]) == 0
    assert json.loads(capsys.readouterr().out)["$ref"] == "#/$defs/experiment_file"


@pytest.mark.parametrize("verb", ["plan", "generate-bash"])
def test_unwritable_output_is_a_user_error(study_dir, tmp_path, capsys, verb):
    target = tmp_path / "a_directory"
    target.mkdir()
    assert main(["--study", str(study_dir), verb, "--output", str(target),
                 "--skip-config-check"]) == 2   # its app (app.main) is not a real module
    captured = capsys.readouterr()
    assert captured.err == (f"error: --output {target}: cannot write: a folder stands where "
                            f"the file must be\n")
    assert captured.out == "" and list(target.iterdir()) == []
