"""A study runs end to end through real launchers, by both doors.

Door 1: ``silisocs-sweep run --launcher L --max-concurrent 2`` (a subprocess that starts the
multirun as its own subprocess). Door 2: ``python -m examples.socialsim --multirun
hydra/sweeper=study hydra.sweeper.study=...`` directly. Every run must end with a success
record, its evaluator output on disk, and every view listing every run in natural order
(seeds 2 and 10: ``seed2`` sorts after ``seed10`` as a string, so string order would fail).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import (assert_ok, cli, hydra_multirun, load_records, natural, noop_doc,
                      view_run_ids, write_study)

PLANNED = [f"h1__{c}__election_recsys_engagement__seed{s}"
           for c in ("chrono", "recsys") for s in (2, 10)]
LAUNCHER_CLASS = {"basic": "BasicLauncher", "joblib": "JoblibLauncher",
                  "submitit_local": "LocalLauncher"}


def check_complete_study(study: Path, launcher: str) -> dict[str, dict]:
    records = load_records(study)
    assert sorted(records) == sorted(PLANNED)
    for run_id, rec in records.items():
        assert rec["status"] == "success", (run_id, rec.get("error"), rec.get("error_tail"))
        assert rec["launcher"] == LAUNCHER_CLASS[launcher]
        run_dir = Path(rec["run_dir"])
        manifest = json.loads((run_dir / "run_manifest.json").read_text())
        assert manifest["status"] == "success" and manifest["seed"] == rec["seed"]
        assert (run_dir / "action_events.jsonl").stat().st_size > 0
        [ev] = rec["evaluations"]
        assert ev["id"] == "action_metrics" and ev["status"] == "success", ev
        out = Path(ev["path"])
        assert out.is_file() and json.loads(out.read_text())
        cond = rec["condition"]
        assert out.is_relative_to(study / "generated" / "eval" / "h1" / cond /
                                  "election_recsys_engagement" / f"seed_{rec['seed']}"
                                  / "action_metrics")
    want = natural(PLANNED)
    assert want != sorted(PLANNED)  # the seeds really exercise natural order
    for view, ids in view_run_ids(study).items():
        assert ids == want, view
    pids = {rec["pid"] for rec in records.values()}
    if launcher == "basic":
        assert len(pids) == 1          # all jobs in the multirun process
    elif launcher == "submitit_local":
        assert len(pids) == len(PLANNED)   # a fresh process per job
    return records


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "joblib", "submitit_local"])
def test_cli_runs_study_through_launcher(socialsim_study, launcher):
    proc = cli(socialsim_study, "run", "--launcher", launcher, "--max-concurrent", "2")
    assert_ok(proc)
    assert "success 4" in proc.stdout
    records = check_complete_study(socialsim_study, launcher)
    assert len({r["session"] for r in records.values()}) == 1
    # running again launches nothing and changes no record
    again = cli(socialsim_study, "run", "--launcher", launcher)
    assert_ok(again)
    assert "skip (complete) 4" in again.stdout and "Launching" not in again.stdout
    assert {k: r["attempt_id"] for k, r in load_records(socialsim_study).items()} == \
        {k: r["attempt_id"] for k, r in records.items()}


LAUNCHER_OVERRIDES = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                      "submitit_local": ["hydra/launcher=submitit_local"]}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "joblib", "submitit_local"])
def test_hydra_multirun_runs_study_directly(socialsim_study, tmp_path, launcher):
    # the study path is relative: it resolves against the directory Hydra was started from
    proc = hydra_multirun("examples.socialsim", Path(socialsim_study.name),
                          *LAUNCHER_OVERRIDES[launcher], sweep_dir=tmp_path / "multirun",
                          cwd=socialsim_study.parent)
    assert_ok(proc)
    check_complete_study(socialsim_study, launcher)
    assert (tmp_path / "multirun" / "multirun.yaml").is_file()


@pytest.mark.slow
def test_h1_then_only_h2_keeps_both_in_every_view(tmp_path):
    doc = noop_doc(hypotheses={"h1": {"conditions": {"a": {"overrides": {"x": 1}}}},
                               "h2": {"conditions": {"b": {"overrides": {"x": 2}}}}})
    study = write_study(tmp_path / "study", doc)
    h1 = ["h1__a__s__seed2", "h1__a__s__seed10"]
    h2 = ["h2__b__s__seed2", "h2__b__s__seed10"]

    assert_ok(cli(study, "run", "--only-hypothesis", "h1"))
    for view, ids in view_run_ids(study).items():
        assert ids == natural(h1), view
    first = {k: r["attempt_id"] for k, r in load_records(study).items()}

    proc = cli(study, "run", "--only-hypothesis", "h2")
    assert_ok(proc)
    assert "2 run(s) selected of 4" in proc.stdout
    for view, ids in view_run_ids(study).items():
        assert ids == natural(h1 + h2), view
    records = load_records(study)
    assert {k: records[k]["attempt_id"] for k in h1} == first   # h1 untouched
    assert all(records[k]["status"] == "success" for k in h1 + h2)
    # a view rebuilt later (organize-style, no filters) still holds both
    from conftest import REPO

    from silisocs_study.views import refresh
    from silisocs_study.workspace import open_plan

    rebuilt = refresh(open_plan(str(study), str(REPO))).records
    assert [r["run_id"] for r in rebuilt] == natural(h1 + h2)
