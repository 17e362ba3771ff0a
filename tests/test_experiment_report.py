"""Experiment reports from synthetic records (no Hydra): statistics, ties, folders, figures.

The end-to-end runs are in test_experiment_run.py; these tests pin the pieces quickly.
"""
from __future__ import annotations

import json
import os
import random
import struct
import textwrap
from pathlib import Path

import pytest
import yaml

from silisocs_study.ledger import Ledger
from silisocs_study.plan import build_plan
from silisocs_study.report import experiment as ex
from silisocs_study.spec import load_study
from silisocs_study.workspace import (Workspace, experiment_folders, latest_folder, open_plan,
                                      resolved_spec)

SPEC = """
scenario.base:
  runner_module: examples.benchmark
experiment.grid:
  description: "Two factors"
  scenario: !ref base
  path: out/grid_{date}_{seq}
  name: "{agent}_t{temperature}_s{seed}"
  axes:
    agents: [good, bad]
    temperature: [0.0, 1.0]
    seeds: 5
  post_actions: [report]
"""


def make_folder(tmp: Path, means: dict, *, spread: float = 0.01, fail: tuple = (),
                folder_name: str = "grid_2030-01-02_001", spec_text: str = SPEC):
    """A folder with records + result.json for every point; score ≈ means[(agent, temp)]."""
    (tmp / "grid.yaml").write_text(spec_text)
    folder = tmp / "out" / folder_name
    study = load_study(tmp / "grid.yaml", tmp, workspace=folder)
    from silisocs_study.plan import build_plan

    rng = random.Random(1)
    ledger = Ledger(study.generated)
    for run in build_plan(study).runs:
        run_dir = Path(run.output_dir)
        status = "failed" if run.run_id in fail else "success"
        if status == "success":
            run_dir.mkdir(parents=True)
            score = means[(run.axes["agent"], run.axes["temperature"])] + rng.uniform(
                -spread, spread)
            (run_dir / "result.json").write_text(json.dumps({
                "scores": {"score": score, "speed": 1.0 - score}, "success": score > 0.5,
                "final_state": {"round": 3}, "timeline": [{"round": 1}]}))
        ledger.write({"run_id": run.run_id, "status": status, "axes": run.axes,
                      "seed": run.seed, "attempt_id": "a", "output_dir": str(run_dir),
                      "run_dir": str(run_dir) if status == "success" else None,
                      "error": "boom" if status == "failed" else None})
    return study


MEANS = {("good", 0.0): 0.9, ("good", 1.0): 0.7, ("bad", 0.0): 0.3, ("bad", 1.0): 0.305}


def test_stats_leaderboard_ties_and_combinations(tmp_path):
    study = make_folder(tmp_path, MEANS, spread=0.02)
    results = ex.build_results(study, Ledger(study.generated).all().values())
    assert len(results) == 20
    stats = ex.experiment_stats(study, results)
    assert stats["factors"] == ["agent", "temperature"]
    assert stats["primary"] == "score" and stats["scores"] == ["score", "speed"]
    labels = [(c["values"]["agent"], c["values"]["temperature"]) for c in stats["leaderboard"]]
    assert labels[:2] == [("good", 0.0), ("good", 1.0)]
    assert set(labels[2:]) == {("bad", 0.0), ("bad", 1.0)}
    first, second, third, fourth = stats["leaderboard"]
    assert first["overlaps"] == [] and second["overlaps"] == []
    assert third["overlaps"] == [4] and fourth["overlaps"] == [3]   # 0.300 vs 0.305: a tie
    assert [c["values"] for c in stats["by_axis"]["agent"]] == [{"agent": "good"},
                                                                {"agent": "bad"}]
    good = stats["by_axis"]["agent"][0]
    assert good["runs"] == 10 and good["success_rate"] == 1.0
    assert good["scores"]["score"]["n"] == 10
    assert len(stats["combinations"]) == 4

    text = ex.summary_markdown(study, results, stats, planned=20)
    assert "## By agent × temperature" in text and "## By temperature" in text
    assert "#1 agent=good, temperature=0.0 > #2 agent=good, temperature=1.0: the 95% CIs " \
           "do not overlap" in text
    assert "tied" in text and "≈" in text


def test_failed_run_entry_and_summary(tmp_path):
    study = make_folder(tmp_path, MEANS, fail=("bad_t1.0_s2",))
    results = ex.build_results(study, Ledger(study.generated).all().values())
    entry = next(r for r in results if r["run_id"] == "bad_t1.0_s2")
    assert entry == {"agent": "bad", "temperature": 1.0, "seed": 2, "run_id": "bad_t1.0_s2",
                     "status": "failed", "scores": {}, "success": False, "error": "boom",
                     "run_dir": entry["run_dir"], "final_state": None, "timeline": None}
    stats = ex.experiment_stats(study, results)
    cell = next(c for c in stats["combinations"] if c["values"] == {"agent": "bad",
                                                                    "temperature": 1.0})
    assert cell["runs"] == 5 and cell["scores"]["score"]["n"] == 4
    text = ex.summary_markdown(study, results, stats, planned=20)
    assert "(n=4)" in text and "`bad_t1.0_s2` [failed]: boom" in text


def test_missing_result_json_is_an_error_entry(tmp_path):
    study = make_folder(tmp_path, MEANS)
    victim = Path(study.workspace) / "runs" / "good_t0.0_s0" / "result.json"
    victim.unlink()
    results = ex.build_results(study, Ledger(study.generated).all().values())
    entry = results[0]
    assert entry["run_id"] == "good_t0.0_s0" and entry["status"] == "success"
    assert entry["success"] is False and entry["scores"] == {}
    assert "result.json missing" in entry["error"]


def test_write_reports_and_png(tmp_path):
    study = make_folder(tmp_path, MEANS)
    paths = ex.write_experiment_reports(study, Ledger(study.generated).all())
    folder = Path(study.workspace)
    assert paths == [folder / "results.yaml", folder / "reports" / "summary.md",
                     folder / "reports" / "comparison.png", folder / "reports" / "results.xlsx",
                     folder / "reports" / "report.html"]
    data = paths[2].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 600 and height > 400
    import matplotlib.image as mpimg
    import numpy as np

    pixels = mpimg.imread(paths[2])
    assert pixels.shape[:2] == (height, width) and float(np.std(pixels[..., :3])) > 0.05
    from openpyxl import load_workbook

    wb = load_workbook(paths[3], read_only=True)
    assert wb.sheetnames == ["runs", "leaderboard", "by agent", "by temperature"]
    assert len(list(wb["runs"].iter_rows(values_only=True))) == 21
    board = list(wb["leaderboard"].iter_rows(values_only=True))
    assert board[0][:3] == ("rank", "agent", "temperature") and board[1][:3] == (1, "good", 0.0)
    wb.close()
    assert yaml.safe_load(paths[0].read_text())[0]["run_id"] == "good_t0.0_s0"


def test_png_without_scored_runs(tmp_path):
    study = make_folder(tmp_path, MEANS, fail=tuple(
        f"{a}_t{t}_s{s}" for a in ("good", "bad") for t in (0.0, 1.0) for s in range(5)))
    paths = ex.write_experiment_reports(study, Ledger(study.generated).all())
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "No run has reported scores yet." in paths[1].read_text()


def test_plot_axes_choice():
    stats = {"axes": {"agent": ["a", "b"], "seed": [0, 1], "temperature": [0, 1, 2],
                      "top_p": [0.5, 1.0], "fixed": ["x"]},
             "factors": ["agent", "temperature", "top_p", "fixed"]}
    from silisocs_study.report.experiment_figures import plot_axes

    assert plot_axes(stats) == ("temperature", "agent", ["top_p"])
    stats = {"axes": {"agent": ["a", "b"], "seed": [0]}, "factors": ["agent"]}
    assert plot_axes(stats) == ("agent", None, [])


def test_rank_lists():
    assert ex._ranks([], 5) == "none"
    assert ex._ranks([2, 3, 4, 7], 9) == "#2–#4, #7"
    assert ex._ranks([1, 2], 9) == "#1, #2"
    assert ex._ranks([1, 2, 3, 5], 5) == "all others"


def test_experiment_folders_latest_and_filtering(tmp_path):
    study = make_folder(tmp_path, MEANS, folder_name="grid_2030-01-02_002")
    out = tmp_path / "out"
    Workspace(build_plan(study)).write_spec_copy()
    older = out / "grid_2030-01-02_001"          # same day, lower seq, with a spec copy
    older.mkdir()
    (older / "_spec_.yaml").write_text(yaml.safe_dump(
        {"experiment": "grid", "spec_file": str(study.file)}))
    other = out / "grid_2031-05-06_001"          # newer, but another spec's folder
    other.mkdir()
    (other / "_spec_.yaml").write_text(yaml.safe_dump(
        {"experiment": "grid", "spec_file": str(tmp_path / "elsewhere.yaml")}))
    (out / "grid_2030-01-02_010").mkdir()        # empty: not an experiment folder
    (out / "grid_junk").mkdir()
    assert experiment_folders(study) == [older, Path(study.workspace)]
    assert latest_folder(study) == Path(study.workspace)   # the one with records
    loaded = open_plan(str(tmp_path / "grid.yaml"), tmp_path, require_records=True).study
    assert loaded.workspace == Path(study.workspace)


def test_load_experiment_without_folders_is_a_user_error(tmp_path):
    (tmp_path / "grid.yaml").write_text(SPEC)
    from silisocs_study.errors import StudyError

    with pytest.raises(StudyError, match="has no folder with records yet"):
        open_plan(str(tmp_path / "grid.yaml"), tmp_path, require_records=True)


def test_after_run_writes_results_for_experiments_only(tmp_path):
    study = make_folder(tmp_path, MEANS)
    records = list(Ledger(study.generated).all().values())
    ex.after_run(study, records)
    assert len(yaml.safe_load((Path(study.workspace) / "results.yaml").read_text())) == 20

    class NotExperiment:
        kind = "study"
        workspace = tmp_path / "nope"

    ex.after_run(NotExperiment(), records)
    assert not (tmp_path / "nope").exists()


def test_report_show_opens_with_a_display(tmp_path, monkeypatch, capsys):
    study = make_folder(tmp_path, MEANS)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f"#!/bin/sh\necho \"$1\" >> {log}\n")
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(ex.sys, "platform", "linux")
    rc = ex.run_post_actions(study, list(Ledger(study.generated).all().values()),
                             [("report", True)])
    assert rc == 0
    assert "Opened" in capsys.readouterr().out
    import time

    deadline = time.time() + 10
    while time.time() < deadline and (not log.exists() or len(log.read_text().split()) < 2):
        time.sleep(0.05)
    opened = sorted(log.read_text().split())
    folder = Path(study.workspace) / "reports"
    assert opened == [str(folder / "report.html")]   # the one page that has everything


def test_resolved_spec_of_an_inline_scenario(tmp_path):
    text = textwrap.dedent("""
        experiment.inline:
          scenario: {runner_module: examples.benchmark, overrides: {num_rounds: 3}}
          path: out/inline
          axes: {seeds: 2}
        """)
    (tmp_path / "i.yaml").write_text(text)
    study = load_study(tmp_path / "i.yaml", tmp_path)
    doc = resolved_spec(study)
    assert doc["scenario"]["runner_module"] == "examples.benchmark"
    assert doc["points"] == [{"run_id": "0", "seed": 0}, {"run_id": "1", "seed": 1}]
