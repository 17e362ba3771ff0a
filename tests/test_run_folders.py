"""A run's folder holds exactly one attempt's output: an earlier attempt is moved aside (never
deleted, never summed), a folder that holds the repo or the study is never moved, and a run
that writes nothing into its folder is a warning on its record and on the console.
"""
from __future__ import annotations

import pytest

import json
from pathlib import Path

from conftest import REPO, assert_ok, cli, hydra_multirun, load_records, noop_doc, write_study
from silisocs_study.rundir import hydra_entries, move_aside, wrote_nothing


def test_move_aside_renames_and_never_deletes(tmp_path):
    folder = tmp_path / "run"
    assert move_aside(folder) is None                       # nothing there
    folder.mkdir()
    assert move_aside(folder) is None                       # empty: nothing to keep
    (folder / "a.txt").write_text("first")
    first = move_aside(folder)
    assert first is not None and not folder.exists()
    assert first == str(tmp_path / "run.attempts" / "1")
    assert (Path(first) / "a.txt").read_text() == "first"
    folder.mkdir()
    (folder / "a.txt").write_text("second")
    second = move_aside(folder)
    assert second == str(tmp_path / "run.attempts" / "2")
    assert (Path(second) / "a.txt").read_text() == "second"
    assert (Path(first) / "a.txt").read_text() == "first"


def test_move_aside_leaves_folders_that_hold_the_repo_or_study(tmp_path):
    study = tmp_path / "proj" / "study"
    study.mkdir(parents=True)
    (study / "study.yaml").write_text("x")
    for folder in (tmp_path / "proj", study):
        assert move_aside(folder, protect=(study,)) is None
    assert (study / "study.yaml").is_file()


def test_wrote_nothing_ignores_hydra_bookkeeping(tmp_path):
    ignore = hydra_entries("noop", ".hydra")
    assert wrote_nothing(tmp_path / "missing", ignore)
    (tmp_path / ".hydra").mkdir()
    (tmp_path / "noop.log").write_text("")
    assert wrote_nothing(tmp_path, ignore)
    (tmp_path / "result.json").write_text("{}")
    assert not wrote_nothing(tmp_path, ignore)


def test_retry_starts_in_an_empty_folder(tmp_path):
    doc = noop_doc(conditions={"a": {"overrides": {"fail": "raise"}}}, seeds=(1,))
    study = write_study(tmp_path / "study", doc)
    folder = study / "runs" / "h1" / "a" / "s" / "seed_1" / "run"
    folder.mkdir(parents=True)
    (folder / "left_by_hand.txt").write_text("old")
    assert_ok(cli(study, "run", "--no-progress"), 1)
    rec = load_records(study)["h1__a__s__seed1"]
    aside = Path(rec["previous_attempt_dir"])
    assert aside == folder.parent / "run.attempts" / "1"
    assert (aside / "left_by_hand.txt").read_text() == "old"
    assert not (folder / "left_by_hand.txt").exists()
    assert_ok(cli(study, "run", "--retry-failed", "--no-progress"), 1)
    again = load_records(study)["h1__a__s__seed1"]
    assert again["previous_attempt_dir"] != rec["previous_attempt_dir"]
    assert sorted(p.name for p in (folder.parent / "run.attempts").iterdir()) == ["1", "2"]


@pytest.mark.slow
def test_a_run_that_writes_nothing_is_a_warning(tmp_path):
    doc = noop_doc(seeds=(1,))
    doc["study"]["run_defaults"]["inject"] = {"output_dir": None}   # the app gets no folder
    study = write_study(tmp_path / "study", doc)
    proc = hydra_multirun("tests.apps.noop", study, sweep_dir=tmp_path / "sweep", cwd=REPO)
    assert_ok(proc)
    rec = load_records(study)["h1__a__s__seed1"]
    assert rec["status"] == "success"
    [warning] = rec["warnings"]
    assert "wrote nothing into its folder" in warning
    assert f"[silisocs-sweep] warning: h1__a__s__seed1: {warning}" in proc.stderr
    # and a run that does write is not warned about
    doc["study"]["run_defaults"].pop("inject")
    write_study(study, doc)
    assert_ok(cli(study, "run", "--force", "--no-progress"))
    assert load_records(study)["h1__a__s__seed1"]["warnings"] == []
    lock = json.loads((study / "generated" / "repro_lock.json").read_text())
    assert lock["records"][0]["warnings"] == []
