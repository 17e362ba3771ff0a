"""The Python API: ``silisocs_study.run`` → list of dicts, ``silisocs_study.load`` → DataFrame.

Real benchmark runs (in-process API → the same run_study the CLI uses → Hydra subprocess).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import silisocs_study
from silisocs_study.api import resolve_spec
from silisocs_study.errors import StudyError

EXPERIMENT = """
scenario.base:
  runner_module: examples.benchmark
  overrides:
    num_rounds: 6
experiment.mini:
  scenario: !ref base
  path: data/experiments/mini_{date}_{seq}
  name: "{agent}_s{seed}"
  axes:
    agents: [greedy, cooperative]
    seeds: 2
"""

EVAL = """
import argparse, json, pathlib
p = argparse.ArgumentParser()
p.add_argument("--run-dir")
p.add_argument("--output")
a = p.parse_args()
scores = json.loads((pathlib.Path(a.run_dir) / "result.json").read_text())["scores"]
pathlib.Path(a.output).write_text(json.dumps({"aggregated": scores}))
"""

STUDY = """
schema_version: 1
study:
  name: bench
  scenarios: [base]
  run_defaults:
    runner_module: examples.benchmark
    seeds: [0, 1]
    inject: {{experiment_name: null}}
    overrides: {{num_rounds: 6}}
evaluations:
  - id: scores
    command: ["{{python}}", "{eval}"]
hypotheses:
  h1:
    conditions:
      coop: {{overrides: {{agent: cooperative}}}}
      greedy: {{overrides: {{agent: greedy}}}}
"""


def test_import_stays_light():
    code = ("import sys, silisocs_study; heavy = [m for m in ('pandas', 'matplotlib', 'scipy', "
            "'hydra', 'silisocs_study.api') if m in sys.modules]; print(heavy); "
            "print(callable(silisocs_study.run), callable(silisocs_study.load))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", "True True"]
    with pytest.raises(AttributeError):
        silisocs_study.nope  # noqa: B018


def test_run_experiment_returns_results_and_load_gives_dataframe(tmp_path, capsys):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "mini.yaml").write_text(EXPERIMENT)

    results = silisocs_study.run("experiments.mini", repo_root=tmp_path)
    assert isinstance(results, list) and len(results) == 4
    assert [(r["agent"], r["seed"]) for r in results] == [
        ("greedy", 0), ("greedy", 1), ("cooperative", 0), ("cooperative", 1)]
    for r in results:
        assert r["status"] == "success"
        assert set(r["scores"]) == {"score", "efficiency", "sustainability"}
        assert isinstance(r["success"], bool) and len(r["timeline"]) == 6
        assert r["final_state"]["round"] == 6
    folder = tmp_path / "data" / "experiments"
    (first,) = folder.iterdir()
    assert first.name.endswith("_001")
    assert results[0]["run_dir"] == str(first / "runs" / "greedy_s0")
    assert "Experiment folder:" in capsys.readouterr().out

    frame = silisocs_study.load("experiments.mini", repo_root=tmp_path)
    assert list(frame.columns) == ["run_id", "status", "agent", "seed", "success", "run_dir",
                                   "error", "score.score", "score.efficiency",
                                   "score.sustainability"]
    assert len(frame) == 4 and list(frame["run_id"]) == [r["run_id"] for r in results]
    assert frame["score.score"].dtype.kind == "f"
    assert frame.groupby("agent")["score.score"].mean()["cooperative"] > \
        frame.groupby("agent")["score.score"].mean()["greedy"]

    # workspace= resumes the same folder (nothing re-runs); filters select runs
    again = silisocs_study.run(tmp_path / "experiments" / "mini.yaml", repo_root=tmp_path,
                               workspace=first, seed=0)
    assert [r["run_id"] for r in again] == ["greedy_s0", "cooperative_s0"]
    assert "skip (complete) 2" in capsys.readouterr().out
    assert list(folder.iterdir()) == [first]
    # loading the folder itself, or the spec pinned to it, gives the same table
    assert silisocs_study.load(first).equals(frame)
    assert silisocs_study.load("experiments/mini", repo_root=tmp_path, workspace=first
                               ).equals(frame)


def test_run_study_yaml_returns_runs_with_metrics(tmp_path):
    (tmp_path / "score_eval.py").write_text(EVAL)
    study_dir = tmp_path / "bench"
    study_dir.mkdir()
    (study_dir / "study.yaml").write_text(STUDY.format(eval=tmp_path / "score_eval.py"))

    results = silisocs_study.run(study_dir, repo_root=tmp_path)
    assert [r["run_id"] for r in results] == [
        "h1__coop__base__seed0", "h1__coop__base__seed1",
        "h1__greedy__base__seed0", "h1__greedy__base__seed1"]
    first = results[0]
    assert {k: first[k] for k in ("hypothesis", "condition", "scenario", "seed", "status")} == \
        {"hypothesis": "h1", "condition": "coop", "scenario": "base", "seed": 0,
         "status": "success"}
    assert set(first["metrics"]["scores"]) == {"score", "efficiency", "sustainability"}

    only = silisocs_study.run(study_dir / "study.yaml", repo_root=tmp_path,
                              condition="greedy")
    assert [r["condition"] for r in only] == ["greedy", "greedy"]

    frame = silisocs_study.load(study_dir, repo_root=tmp_path)
    assert list(frame.columns)[:7] == ["run_id", "status", "hypothesis", "condition",
                                       "sub_experiment", "scenario", "seed"]
    assert {"scores.score", "scores.efficiency", "scores.sustainability"} <= set(frame.columns)
    assert len(frame) == 4 and frame["scores.score"].notna().all()


def test_resolve_spec_forms(tmp_path):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "examples" / "experiments").mkdir(parents=True)
    (tmp_path / "experiments" / "a.yaml").write_text(EXPERIMENT)
    (tmp_path / "examples" / "experiments" / "b.yaml").write_text(EXPERIMENT)
    two = EXPERIMENT + textwrap.dedent("""
        experiment.other:
          scenario: !ref base
          axes: {seeds: 1}
        """)
    (tmp_path / "examples" / "experiments" / "many.yaml").write_text(two)
    root = tmp_path
    assert resolve_spec("experiments.a", root) == str(root / "experiments" / "a.yaml")
    assert resolve_spec("experiments/b", root) == str(root / "examples/experiments/b.yaml")
    assert resolve_spec("experiments.other", root) == \
        f"{root / 'examples/experiments/many.yaml'}#other"
    assert resolve_spec("experiments/a.yaml", root) == str(root / "experiments" / "a.yaml")
    assert resolve_spec(f"{root / 'experiments/a.yaml'}#mini", root) == \
        f"{root / 'experiments/a.yaml'}#mini"
    with pytest.raises(StudyError, match="no experiment spec for 'experiments.zzz'"):
        resolve_spec("experiments.zzz", root)
    with pytest.raises(StudyError, match="not found"):
        resolve_spec("nowhere.yaml", root)


def test_run_rejects_bad_arguments(tmp_path):
    (tmp_path / "e.yaml").write_text(EXPERIMENT)
    with pytest.raises(TypeError, match="unknown keyword 'agent'"):
        silisocs_study.run(tmp_path / "e.yaml", repo_root=tmp_path, agent="x")
    with pytest.raises(ValueError, match="launcher must be one of"):
        silisocs_study.run(tmp_path / "e.yaml", repo_root=tmp_path, launcher="nope")
    with pytest.raises(StudyError, match="--only-seed: no run has '7'"):
        silisocs_study.run(tmp_path / "e.yaml", repo_root=tmp_path, seed=7)
    assert not (tmp_path / "data").exists()   # a user error claims no folder
