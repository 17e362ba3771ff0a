"""Resume decisions through the real CLI: stale runs, --retry-failed, --fail-fast, --dry-run
and ``status``. Runs use the no-op test app, so each multirun takes about a second."""
from __future__ import annotations

import pytest

import json
from pathlib import Path


from conftest import (assert_ok, cli, hydra_multirun, load_records, noop_doc,
                      write_study)


def attempts(study: Path) -> dict[str, str]:
    return {k: r["attempt_id"] for k, r in load_records(study).items()}


def tree(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")}


@pytest.mark.slow
def test_changed_override_makes_a_run_stale(tmp_path):
    doc = noop_doc({"a": {"overrides": {"x": 1}}, "b": {"overrides": {"x": 2}}}, seeds=[2])
    study = write_study(tmp_path / "study", doc)
    assert_ok(cli(study, "run"))
    first = load_records(study)
    a, b = "h1__a__s__seed2", "h1__b__s__seed2"

    doc["hypotheses"]["h1"]["conditions"]["b"]["overrides"]["x"] = 3
    write_study(study, doc)

    status = cli(study, "status")
    assert_ok(status)
    assert "Stale runs (completed with an older plan): 1" in status.stdout
    assert f"  {b}" in status.stdout and f"  {a}\n" not in status.stdout
    data = json.loads(cli(study, "status", "--json").stdout)
    assert data["stale"] == [b]
    assert data["groups"] == {"h1/a": {"success": 1}, "h1/b": {"stale": 1}}

    skip = cli(study, "run", "--stale", "skip")
    assert_ok(skip)
    assert "stale 1" in skip.stdout and "Launching" not in skip.stdout
    assert attempts(study) == {k: r["attempt_id"] for k, r in first.items()}

    before = tree(study / "generated")
    err = cli(study, "run", "--stale", "error")
    assert err.returncode == 2
    lines = err.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "stale" in lines[0], lines
    assert b in lines[0] and err.stdout == ""
    assert tree(study / "generated") == before          # nothing written

    rerun = cli(study, "run")
    assert_ok(rerun)
    assert "stale 1," in rerun.stdout and "skip (complete) 1" in rerun.stdout
    after = load_records(study)
    assert after[a]["attempt_id"] == first[a]["attempt_id"]
    assert after[b]["attempt_id"] != first[b]["attempt_id"]
    assert after[b]["fingerprint"] != first[b]["fingerprint"]
    assert after[b]["resolved_overrides"] == {"x": 3}
    assert [h["fingerprint"] for h in after[b]["history"]] == [first[b]["fingerprint"]]
    assert json.loads(cli(study, "status", "--json").stdout)["stale"] == []


def test_retry_failed_reruns_failed_runs_only_and_keeps_history(tmp_path):
    marker = tmp_path / "broken"
    marker.write_text("x")
    doc = noop_doc({"ok": {"overrides": {"x": 1}},
                    "flaky": {"overrides": {"fail_if_exists": str(marker)}}}, seeds=[2, 10])
    study = write_study(tmp_path / "study", doc)
    flaky = ["h1__flaky__s__seed2", "h1__flaky__s__seed10"]
    ok = ["h1__ok__s__seed2", "h1__ok__s__seed10"]

    assert_ok(cli(study, "run"), 1)
    first = load_records(study)
    for run_id in flaky:
        rec = first[run_id]
        assert rec["status"] == "failed" and "broken exists" in rec["error"]
        assert any("broken exists" in line for line in rec["error_tail"])
        assert rec["exit_code"] not in (0, None)

    again = cli(study, "run")
    assert "failed left 2" in again.stdout and "--retry-failed" in again.stdout
    assert "Launching" not in again.stdout
    assert attempts(study) == {k: r["attempt_id"] for k, r in first.items()}

    marker.unlink()
    retry = cli(study, "run", "--retry-failed")
    assert_ok(retry)
    assert "retry 2," in retry.stdout and "skip (complete) 2" in retry.stdout
    after = load_records(study)
    for run_id in ok:
        assert after[run_id]["attempt_id"] == first[run_id]["attempt_id"]
        assert after[run_id]["history"] == []
    for run_id in flaky:
        rec = after[run_id]
        assert rec["status"] == "success" and rec["attempt_id"] != first[run_id]["attempt_id"]
        [old] = rec["history"]
        assert old["attempt_id"] == first[run_id]["attempt_id"]
        assert old["status"] == "failed" and "broken exists" in old["error"]
        assert old["finished_at"] == first[run_id]["finished_at"]


@pytest.mark.slow
def test_fail_fast_stops_after_the_first_failure(tmp_path):
    doc = noop_doc({"a": {}, "b": {"overrides": {"fail": "raise"}}, "c": {}, "d": {}},
                   seeds=[2])
    study = write_study(tmp_path / "study", doc)
    proc = cli(study, "run", "--fail-fast")
    assert_ok(proc, 1)
    records = load_records(study)
    assert sorted(records) == ["h1__a__s__seed2", "h1__b__s__seed2"]
    assert records["h1__a__s__seed2"]["status"] == "success"
    assert records["h1__b__s__seed2"]["status"] == "failed"
    # the rest is still to do: a later run (without --fail-fast) launches exactly those
    rest = cli(study, "run")
    assert_ok(rest, 1)    # b is still failed (left, not retried): the selection is not complete
    assert "new 2," in rest.stdout and "failed left 1" in rest.stdout
    assert sorted(load_records(study)) == [f"h1__{c}__s__seed2" for c in "abcd"]


def test_dry_run_writes_plan_and_script_and_launches_nothing(noop_study, tmp_path):
    proc = cli(noop_study, "run", "--dry-run")
    assert_ok(proc)
    gen = noop_study / "generated"
    assert sorted(p.name for p in gen.iterdir()) == ["plan.json", "run_study.sh"]
    plan = json.loads((gen / "plan.json").read_text())
    assert [r["run_id"] for r in plan["runs"]] == ["h1__a__s__seed2", "h1__a__s__seed10"]
    script = (gen / "run_study.sh").read_text()
    assert script.startswith("#!") and "tests.apps.noop" in script
    assert not (noop_study / "runs").exists()
    # the sweeper's own dry_run does the same
    (gen / "plan.json").unlink()
    (gen / "run_study.sh").unlink()
    direct = hydra_multirun("tests.apps.noop", noop_study, "hydra.sweeper.dry_run=true",
                            sweep_dir=tmp_path / "mr")
    assert_ok(direct)
    assert sorted(p.name for p in gen.iterdir()) == ["plan.json", "run_study.sh"]
    assert not (noop_study / "runs").exists() and not (tmp_path / "mr").exists()


def test_status_shows_counts_failures_with_logs_and_stale_runs(tmp_path):
    doc = noop_doc({"a": {"overrides": {"x": 1}}, "bad": {"overrides": {"fail": "raise"}}},
                   seeds=[2, 10])
    study = write_study(tmp_path / "study", doc)
    assert_ok(cli(study, "run", "--only-seed", "2"), 1)
    doc["hypotheses"]["h1"]["conditions"]["a"]["overrides"]["x"] = 5
    write_study(study, doc)
    proc = cli(study, "status")
    assert_ok(proc)
    out = proc.stdout.splitlines()
    assert out[0] == "Study noop: failed 1, stale 1, pending 2"
    header = out[1].split()
    assert header[:4] == ["hypothesis/condition", "success", "reused", "failed"]
    rows = {line.split()[0]: line.split()[1:] for line in out[3:5]}
    col = {name: i for i, name in enumerate(header[1:])}
    assert rows["h1/a"][col["stale"]] == "1" and rows["h1/a"][col["pending"]] == "1"
    assert rows["h1/bad"][col["failed"]] == "1" and rows["h1/bad"][col["pending"]] == "1"
    text = proc.stdout
    assert "Failed runs:" in text
    assert "[failed] h1__bad__s__seed2: RuntimeError: noop: injected failure" in text
    log_line = next(line for line in out if line.strip().startswith("log: "))
    log = Path(log_line.split("log: ", 1)[1])
    assert log.is_file() and log.is_relative_to(study / "runs")
    assert any(line.strip().startswith("| ") and "injected failure" in line for line in out)
    assert "Stale runs (completed with an older plan): 1" in text
    assert "  h1__a__s__seed2" in out


def test_a_multirun_that_runs_nothing_is_an_error_not_success(tmp_path):
    doc = noop_doc()
    doc["study"]["run_defaults"]["runner_module"] = "tests.apps.no_such_app"
    study = write_study(tmp_path / "study", doc)
    proc = cli(study, "run")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: the multirun of tests.apps.no_such_app exited with code 1 "
                           "before running any run")
    assert "No module named tests.apps.no_such_app" in line
    assert load_records(study) == {}
