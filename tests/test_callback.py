"""StudyCallback: enabled explicitly or attached by the sweeper (never twice), picklable for
joblib/submitit, recording from rank 0 only; the sweeper still records runs when no callback
ran at all."""
from __future__ import annotations

import json
import pickle

from conftest import assert_ok, hydra_multirun, load_records, noop_doc, write_study

from silisocs_study.callbacks import StudyCallback


def test_explicit_callback_and_auto_attach_record_each_run_once(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    proc = hydra_multirun("tests.apps.noop", study, "hydra/callbacks=study",
                          sweep_dir=tmp_path / "mr")
    assert_ok(proc)
    records = load_records(study)
    assert len(records) == 2
    for rec in records.values():
        assert rec["status"] == "success" and rec["launcher"] == "BasicLauncher"
        assert rec["history"] == []      # a second callback would have started a 2nd attempt
        assert rec["started_at"] is not None


def test_explicit_callback_alone(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    proc = hydra_multirun("tests.apps.noop", study, "hydra/callbacks=study",
                          "hydra.sweeper.attach_callback=false", sweep_dir=tmp_path / "mr")
    assert_ok(proc)
    assert [r["status"] for r in load_records(study).values()] == ["success", "success"]
    assert (study / "generated" / "repro_lock.json").exists()


def test_without_any_callback_the_sweeper_still_records_every_run(tmp_path):
    study = write_study(tmp_path / "study", noop_doc({"a": {}, "bad": {"overrides": {
        "fail": "raise"}}}, seeds=[2]))
    proc = hydra_multirun("tests.apps.noop", study, "hydra.sweeper.attach_callback=false",
                          sweep_dir=tmp_path / "mr")
    assert_ok(proc, 1)
    records = load_records(study)
    assert records["h1__a__s__seed2"]["status"] == "success"
    assert records["h1__a__s__seed2"]["started_at"] is None      # nobody saw it start
    bad = records["h1__bad__s__seed2"]
    assert bad["status"] == "failed" and "injected failure" in bad["error"]


def test_callback_pickles_without_per_job_state():
    cb = StudyCallback(rebuild_views=False)
    cb._active["/x/job.json"] = {"attempt_id": "a"}
    copy = pickle.loads(pickle.dumps(cb))
    assert copy.rebuild_views is False and copy._active == {}


def test_only_rank_zero_records(tmp_path, monkeypatch):
    """With submitit tasks_per_node>1 every task runs the job's callbacks."""
    from omegaconf import OmegaConf

    from silisocs_study.jobs import JOB_ENV

    gen = tmp_path / "generated"
    job = {"run_id": "h1__a__s__seed1", "generated": str(gen), "output_dir": str(tmp_path),
           "repo_root": str(tmp_path), "argv": [], "timeout_seconds": None, "command": None}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    config = OmegaConf.create({"hydra": {"job": {"env_set": {JOB_ENV: str(path)}}}})
    monkeypatch.setenv("SUBMITIT_GLOBAL_RANK", "1")
    StudyCallback().on_job_start(config)
    assert not (gen / "records").exists()
    monkeypatch.setenv("SUBMITIT_GLOBAL_RANK", "0")
    cb = StudyCallback()
    cb.on_job_start(config)
    assert json.loads((gen / "records" / "h1__a__s__seed1.json").read_text())["status"] == \
        "running"
    # end the job too: its start made this (test) process a subreaper and took the lease
    from hydra.core.utils import JobReturn, JobStatus

    cb.on_job_end(config, job_return=JobReturn(status=JobStatus.COMPLETED, _return_value=0))
    assert json.loads((gen / "records" / "h1__a__s__seed1.json").read_text())["status"] == \
        "success"
