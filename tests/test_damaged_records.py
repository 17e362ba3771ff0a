"""Damaged record files: reported by name, counted for no run, moved aside (never deleted) by
the run's next write, and never able to hang a verb, make a healthy run re-execute, or make a
damaged one re-execute forever.

Damage kinds: ``[]``, ``"x"``, empty, truncated, garbage bytes, a folder, a FIFO, a socket, a
symlink (to a valid record outside the study), another run's record filed under this name,
a string ``seed``. Every CLI call has a timeout: a FIFO opened for reading would block.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat
from pathlib import Path

import pytest
from conftest import assert_ok, cli, load_records, noop_doc, records_dir, write_study

from silisocs_study.ledger.records import DAMAGED_DIR, Ledger, check_record, read_record_file

SEEDS = list(range(1, 13))
HEALTHY = 9            # seed9 stays healthy; seed8's file holds a copy of seed9's record


def rid(seed: int) -> str:
    return f"h1__a__s__seed{seed}"


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def damage(study: Path, outside: Path) -> dict[str, str]:
    """Damage every record but seed9's; returns {file name: kind}."""
    rec = records_dir(study)
    path = {s: rec / f"{rid(s)}.json" for s in SEEDS}
    good = {s: path[s].read_bytes() for s in SEEDS}
    kinds = {}

    def put(seed: int, kind: str, data: bytes | None = None) -> None:
        path[seed].unlink()
        if data is not None:
            path[seed].write_bytes(data)
        kinds[path[seed].name] = kind

    put(1, "list", b"[]\n")
    put(2, "string", b'"x"\n')
    put(3, "truncated", good[3][: len(good[3]) // 2])
    put(4, "garbage", b"\x00\xff garbage \x01")
    put(5, "folder")
    path[5].mkdir()
    (path[5] / "keep.txt").write_text("kept")
    put(6, "fifo")
    os.mkfifo(path[6])
    outside.mkdir()
    (outside / "rec.json").write_bytes(good[7])
    put(7, "symlink")
    path[7].symlink_to(outside / "rec.json")
    put(8, "wrong run id", good[HEALTHY])      # seed9's record filed under seed8's name
    bad = json.loads(good[10])
    bad["seed"] = "ten"
    put(10, "string seed", json.dumps(bad).encode())
    put(11, "socket")
    cwd = os.getcwd()
    os.chdir(rec)                  # a relative name: AF_UNIX paths are limited to 108 bytes
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path[11].name)
        sock.close()
    finally:
        os.chdir(cwd)
    put(12, "empty", b"")
    return kinds


@pytest.mark.slow
def test_every_kind_of_damage_is_reported_moved_aside_and_replaced(tmp_path):
    study = write_study(tmp_path / "study", noop_doc(seeds=SEEDS))
    assert_ok(cli(study, "run", timeout=300))
    healthy = (records_dir(study) / f"{rid(HEALTHY)}.json").read_bytes()
    kinds = damage(study, tmp_path / "outside")
    outside_before = (tmp_path / "outside" / "rec.json").read_bytes()

    # status: one warning line naming every damaged file; they count as pending, never hang
    status = cli(study, "status", timeout=60)
    assert_ok(status)
    no_traceback(status)
    warnings = [line for line in status.stderr.splitlines() if "damaged record file" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: 11 damaged"), status.stderr
    for name in kinds:
        assert name in warnings[0]
    assert "Study noop: success 1, pending 11" in status.stdout
    data = json.loads(cli(study, "status", "--json", timeout=60).stdout)
    assert set(data["damaged"]) == set(kinds)
    assert "another run (h1__a__s__seed9)" in data["damaged"][f"{rid(8)}.json"]
    assert "'seed' is a string" in data["damaged"][f"{rid(10)}.json"]

    # organize and report work from the healthy record (a string seed no longer crashes them)
    for verb in ("organize", "report"):
        proc = cli(study, verb, timeout=120)
        assert_ok(proc)
        no_traceback(proc)
    lock = json.loads((study / "generated" / "repro_lock.json").read_text())
    assert [r["run_id"] for r in lock["records"]] == [rid(HEALTHY)]

    # run: the 11 damaged runs run again (seed9 does not); each damaged file is moved aside
    run = cli(study, "run", timeout=300)
    assert_ok(run)
    no_traceback(run)
    assert "new 11" in run.stdout and "skip (complete) 1" in run.stdout, run.stdout
    records = load_records(study)          # every file parses and is named after its run
    assert sorted(records) == sorted(rid(s) for s in SEEDS)
    assert all(r["status"] == "success" for r in records.values())
    assert (records_dir(study) / f"{rid(HEALTHY)}.json").read_bytes() == healthy
    aside = {p.name.split(".json.")[0] + ".json": p for p in
             (records_dir(study) / DAMAGED_DIR).iterdir()}
    assert set(aside) == set(kinds)        # never deleted
    assert aside[f"{rid(1)}.json"].read_bytes() == b"[]\n"
    assert (aside[f"{rid(5)}.json"] / "keep.txt").read_text() == "kept"
    assert stat.S_ISFIFO(os.lstat(aside[f"{rid(6)}.json"]).st_mode)
    assert os.readlink(aside[f"{rid(7)}.json"]) == str(tmp_path / "outside" / "rec.json")
    assert stat.S_ISSOCK(os.lstat(aside[f"{rid(11)}.json"]).st_mode)
    assert (tmp_path / "outside" / "rec.json").read_bytes() == outside_before

    # and nothing runs again: no damaged run re-executes forever
    again = cli(study, "run", timeout=120)
    assert_ok(again)
    assert "skip (complete) 12" in again.stdout and "Launching" not in again.stdout
    status = cli(study, "status", timeout=60)
    assert_ok(status)
    assert "damaged" not in status.stderr and "Study noop: success 12" in status.stdout


@pytest.mark.slow
def test_a_record_filed_under_another_name_never_counts_for_the_run_it_names(tmp_path):
    """An old (failed, other fingerprint) copy of seed2's record under a name no run has:
    seed2's own record decides, so the healthy seed2 is not run again."""
    study = write_study(tmp_path / "study", noop_doc())
    assert_ok(cli(study, "run"))
    own = records_dir(study) / f"{rid(2)}.json"
    before = own.read_bytes()
    copy = json.loads(before)
    copy.update(status="failed", fingerprint="an older plan", error="old attempt")
    for name in ("aaa.json", "zzz.json", f"{rid(99)}.json"):   # before and after in listings
        (records_dir(study) / name).write_text(json.dumps(copy))
    status = cli(study, "status")
    assert_ok(status)
    assert "Study noop: success 2" in status.stdout
    assert f"{rid(99)}.json (holds the record of another run ({rid(2)}))" in status.stderr
    run = cli(study, "run")
    assert_ok(run)
    assert "skip (complete) 2" in run.stdout and "Launching" not in run.stdout
    assert own.read_bytes() == before


@pytest.mark.slow
def test_run_names_the_damaged_records_before_launching(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    assert_ok(cli(study, "run"))
    (records_dir(study) / f"{rid(10)}.json").write_text("[]")
    run = cli(study, "run")
    assert_ok(run)
    assert f"{rid(10)}.json (not a JSON object (a list))" in run.stderr


# -- the Ledger itself (in-process) ------------------------------------------------------------

def test_read_record_file_classifies_without_blocking_or_following(tmp_path):
    (tmp_path / "ok.json").write_text('{"run_id": "ok"}')
    (tmp_path / "dir.json").mkdir()
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "link.json").symlink_to(tmp_path / "ok.json")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    (tmp_path / "bad.json").write_text("{")
    assert read_record_file(str(tmp_path / "ok.json")) == ({"run_id": "ok"}, None)
    assert read_record_file(str(tmp_path / "missing.json")) == (None, None)
    assert read_record_file(str(tmp_path / "dir.json"))[1] == "a folder, not a regular file"
    assert read_record_file(str(tmp_path / "fifo.json"))[1] == "a FIFO, not a regular file"
    assert read_record_file(str(tmp_path / "link.json"))[1].startswith("a symlink (to ")
    assert read_record_file(str(tmp_path / "dangling.json"))[1].startswith("a symlink (to ")
    assert read_record_file(str(tmp_path / "bad.json"))[1].startswith("not valid JSON")


@pytest.mark.parametrize("rec, why", [
    ([], "not a JSON object (a list)"),
    ("x", "not a JSON object (a string)"),
    ({"status": "success"}, "no run_id"),
    ({"run_id": "other"}, "holds the record of another run (other)"),
    ({"run_id": "r", "seed": "1"}, "field 'seed' is a string (want an integer or null)"),
    ({"run_id": "r", "seed": True}, "field 'seed' is a boolean (want an integer or null)"),
    ({"run_id": "r", "status": None}, "field 'status' is null (want a string)"),
    ({"run_id": "r", "evaluations": ["x"]}, "field 'evaluations' holds something that is "
                                            "not an object"),
    ({"run_id": "r", "seed": 3, "status": "success", "evaluations": [{}]}, None),
])
def test_check_record(rec, why):
    assert check_record(rec, "r") == why


def test_a_write_moves_the_damaged_file_aside_every_time_and_deletes_nothing(tmp_path, capsys):
    ledger = Ledger(tmp_path)
    ledger.records_dir.mkdir()
    target = ledger.path("r")
    target.write_text("[]")
    ledger.write({"run_id": "r", "attempt_id": "A", "status": "running"})
    assert "moved to" in capsys.readouterr().err
    target.unlink()
    target.mkdir()                        # damaged again, within the same millisecond maybe
    ledger.write({"run_id": "r", "attempt_id": "B", "status": "success"})
    rec = ledger.read("r")
    assert rec["status"] == "success" and rec["history"] == []   # damaged: no history
    aside = sorted((ledger.records_dir / DAMAGED_DIR).iterdir())
    assert len(aside) == 2
    assert {p.is_dir() for p in aside} == {True, False}
    assert ledger.all() == {"r": rec} and ledger.damaged == {}
    shutil.rmtree(ledger.records_dir / DAMAGED_DIR)
