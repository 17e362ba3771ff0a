"""The resume decisions, on a real plan and record dicts shaped like the ledger's."""
from __future__ import annotations

import pytest

from silisocs_study.errors import StudyError
from silisocs_study.launch.decide import decide
from silisocs_study.plan import build_plan
from silisocs_study.spec import load_study

STUDY = """\
schema_version: 1
study:
  name: s
  scenarios: [a]
  run_defaults: {runner_module: examples.socialsim, seeds: [1, 2, 3, 4, 5]}
hypotheses:
  h1:
    conditions:
      c1: {overrides: {num_agents: 5}}
"""


@pytest.fixture
def runs(tmp_path):
    (tmp_path / "study.yaml").write_text(STUDY)
    return build_plan(load_study(tmp_path / "study.yaml", tmp_path)).runs


def rec(run, status, *, fingerprint=None, session="old"):
    return {"run_id": run.run_id, "status": status, "session": session,
            "fingerprint": fingerprint or run.fingerprint}


def test_each_record_state_maps_to_its_action(runs):
    r1, r2, r3, r4, r5 = runs
    records = {r1.run_id: rec(r1, "success"),
               r2.run_id: rec(r2, "success", fingerprint="0" * 32),
               r3.run_id: rec(r3, "failed"),
               r4.run_id: rec(r4, "failed", fingerprint="0" * 32),
               r5.run_id: rec(r5, "running")}
    d = decide(runs, records)
    assert d.skipped == [r1.run_id]
    assert d.stale == [r2.run_id, r4.run_id]     # a failure under an older plan is untried
    assert d.left_failed == [r3.run_id]
    assert d.new == [r5.run_id]                  # a killed orchestrator's "running" record
    assert [r.run_id for r in d.launch] == [r2.run_id, r4.run_id, r5.run_id]


def test_policies_retry_force_skip_and_error(runs):
    r1, r2, r3 = runs[:3]
    records = {r1.run_id: rec(r1, "success"),
               r2.run_id: rec(r2, "success", fingerprint="0" * 32),
               r3.run_id: rec(r3, "timeout")}
    assert decide(runs, records, retry_failed=True).retry == [r3.run_id]
    assert len(decide(runs, records, force=True).launch) == len(runs)
    skip = decide(runs, records, stale="skip")
    assert skip.stale == [r2.run_id] and r2 not in skip.launch
    with pytest.raises(StudyError, match="stale"):
        decide(runs, records, stale="error")


def test_runs_attempted_in_this_session_are_not_relaunched(runs):
    r1 = runs[0]
    d = decide(runs, {r1.run_id: rec(r1, "failed", session="now")}, retry_failed=True,
               session="now")
    assert r1.run_id not in [r.run_id for r in d.launch]
    assert len(d.launch) == len(runs) - 1
