"""Files a run needs later (reuse sources, evaluator scripts) are checked when the run needs
them, not when the study is planned: ``plan`` warns at the file's line and exits 0, so a
study can be previewed on a machine that does not hold them; the run then fails with a clear
error, and succeeds once the file appears.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_ok, cli, load_records, noop_doc, write_study
from silisocs_study.cli import main

CORPUS = Path(__file__).parent / "plan_warnings"

EXPECTED = {
    "evaluator_script_missing": [
        "evaluator_script_missing/study.yaml:7:14: evaluations[0].command: script not found: "
        "{case}/evaluate_run.py (required by this evaluator; the evaluator fails when it runs)"],
    "reuse_source_missing": [
        "reuse_source_missing/study.yaml:15:23: hypotheses.h1.conditions.adopted.reuse.runs[1]"
        ".source: source does not exist: {case}/runs/old_run_2 (the reuse fails when run "
        "unless it appears)"],
    "study_eval_preset_without_eval_py": [
        "study_eval_preset_without_eval_py/study.yaml:10:21: hypotheses.h1.conditions.c1."
        "evaluations[0].preset: script not found: {case}/eval.py (required by preset "
        "'builtin.study_eval'; the evaluator fails when it runs)"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_plan_warns_at_the_line_and_succeeds(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(CORPUS)
    case = CORPUS / name
    out = tmp_path / "plan.json"
    assert main(["--study", name, "--repo-root", str(case), "plan", "--output", str(out),
                 "--skip-config-check"]) == 0
    captured = capsys.readouterr()
    wanted = [f"warning: {w.format(case=case)}" for w in EXPECTED[name]]
    assert captured.err.splitlines() == wanted
    assert json.loads(out.read_text())["selected_runs"] >= 1


def test_corpus_has_exactly_these_cases():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


def test_missing_reuse_source_fails_the_run_until_it_appears(tmp_path):
    doc = noop_doc()
    doc["hypotheses"]["h1"]["conditions"]["old"] = {
        "execution": {"mode": "reuse_existing"},
        "reuse": {"runs": [{"source": str(tmp_path / "old_run"), "seed": 2}]}}
    doc["evaluations"] = [{"id": "mine", "command": "{python} ./evaluate_run.py"}]
    study = write_study(tmp_path / "study", doc)
    planned = cli(study, "plan", "--skip-config-check")
    assert_ok(planned)
    assert "source does not exist" in planned.stderr and "script not found" in planned.stderr

    first = cli(study, "run", "--no-progress")
    assert_ok(first, 1)
    records = load_records(study)
    reuse = records["h1__old__reuse_0"]
    assert reuse["status"] == "failed"
    assert reuse["error"] == f"reuse source does not exist: {tmp_path / 'old_run'}"
    run = records["h1__a__s__seed2"]
    assert run["status"] == "success"   # the run itself is fine; its evaluator is not
    (evaluation,) = run["evaluations"]
    assert evaluation["status"] == "failed" and evaluation["return_code"] != 0
    assert any("evaluate_run.py" in line for line in evaluation["tail"])

    (tmp_path / "old_run").mkdir()
    (tmp_path / "old_run" / "result.json").write_text("{}")
    (study / "evaluate_run.py").write_text(
        "import argparse, json\np = argparse.ArgumentParser()\np.add_argument('--run-dir')\n"
        "p.add_argument('--output')\na = p.parse_args()\n"
        "open(a.output, 'w').write(json.dumps({'aggregated': {'ok': 1}}))\n")
    second = cli(study, "run", "--no-progress")
    assert "reused 1" in second.stdout, second.stdout + second.stderr
    # h1__a's evaluator failed in the first run and was not run again: still not complete
    assert_ok(second, 1)
    assert "[evaluator failed] h1__a__s__seed2: mine" in second.stdout
    assert load_records(study)["h1__old__reuse_0"]["status"] == "reused"
