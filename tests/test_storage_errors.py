"""Storage failures are user errors, and writes stay inside the study.

A full disk (a small tmpfs), a read-only ``generated/`` or ``records/`` (a read-only bind
mount: chmod does not stop root) and a vanished folder end a verb with ONE line naming what
was being written and where — exit 2 when nothing was written, 1 after partial work — with
every record intact, no temp file left, and a resume that works once the cause is gone.

Symlinks planted in the study are never written through: views (rewritten whole) replace
the link with a regular file and say so; appended logs (SUMMARY.md, summary_log.jsonl) and
lock files are refused with one line, and nothing is created where a dangling link points.

Mount-based tests need root and a kernel that lets us mount tmpfs / bind mounts; they skip,
saying so, elsewhere.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import assert_ok, cli, noop_doc, records_dir, write_study

from silisocs_study import errors
from silisocs_study.atomic import atomic_write_bytes
from silisocs_study.errors import StorageError, StudyError
from silisocs_study.ledger.lockfile import append_line, exclusive
from silisocs_study.ledger.records import Ledger

A, B = "h1__a__s__seed2", "h1__a__s__seed10"


# -- helpers -----------------------------------------------------------------------------------

def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here (needs root and mount rights): {proc.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs at ``path`` (a disk that fills up), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` as a read-only bind mount of itself (root cannot write there either)."""
    _mount("--bind", str(path), str(path))
    try:
        proc = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {proc.stderr.strip()}")
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system at ``disk`` until it refuses one more byte."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        chunk = b"\0" * 65536
        with pytest.raises(OSError) as info:
            while True:
                while chunk:
                    chunk = chunk[fh.write(chunk):]
                chunk = b"\0" * 65536
        assert info.value.errno == errno.ENOSPC
        with pytest.raises(OSError):     # not even one byte more
            fh.write(b"\0")
    return filler


def one_error(proc) -> str:
    """The verb ended with exactly one ``error:`` line and no traceback; returns it."""
    both = proc.stdout + proc.stderr
    assert "Traceback" not in both, both
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def snapshot(study: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(records_dir(study).iterdir())
            if p.is_file()}


def temp_files(study: Path) -> list[str]:
    gen = study / "generated"
    return sorted(str(p) for p in gen.rglob(".*.tmp*") if p.is_file())


def forget(study: Path, run_id: str, seed: int) -> None:
    """Make a finished run pending again: its record and its run folder (else its
    RUN_COMPLETE.json marker would be adopted as a finished run)."""
    (records_dir(study) / f"{run_id}.json").unlink()
    shutil.rmtree(study / "runs" / "h1" / "a" / "s" / f"seed_{seed}")


def resumed(study: Path, before: dict[str, bytes]) -> None:
    """The pending run B runs; A's record is exactly what it was; every verb works."""
    run = cli(study, "run")
    assert_ok(run)
    assert "new 1" in run.stdout and "skip (complete) 1" in run.stdout, run.stdout
    assert snapshot(study)[f"{A}.json"] == before[f"{A}.json"]
    assert json.loads((records_dir(study) / f"{B}.json").read_text())["status"] == "success"
    for verb in ("organize", "report", "status"):
        assert_ok(cli(study, verb))


VERBS = (("run",), ("organize",), ("report",), ("summary-append", "--author", "me",
                                                 "--note", "a note"))


# -- disk full ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_full_disk_every_writing_verb_one_line_records_intact_then_resume(tmp_path):
    with tmpfs(tmp_path / "disk", "16m") as disk:
        study = write_study(disk / "study", noop_doc())
        assert_ok(cli(study, "run"))
        forget(study, B, 10)
        before = snapshot(study)
        filler = fill(disk)
        for args in VERBS:
            proc = cli(study, *args)
            line = one_error(proc)
            assert "no space left on the device" in line and str(disk) in line, line
            assert proc.returncode == 2, (args, proc.stderr)   # nothing was written
            assert snapshot(study) == before
            assert temp_files(study) == []
        status = cli(study, "status")                          # reading still works
        assert_ok(status)
        assert "success 1, pending 1" in status.stdout
        filler.unlink()
        resumed(study, before)


# -- read-only ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_read_only_generated_every_writing_verb_one_line_then_resume(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    assert_ok(cli(study, "run"))
    forget(study, B, 10)
    before = snapshot(study)
    with read_only(study / "generated"):
        for args in VERBS:
            proc = cli(study, *args)
            line = one_error(proc)
            assert "read-only" in line and str(study / "generated") in line, line
            assert proc.returncode == 2, (args, proc.stderr)
        assert_ok(cli(study, "status"))
    assert snapshot(study) == before and temp_files(study) == []
    resumed(study, before)


@pytest.mark.slow
def test_a_record_the_job_cannot_write_is_an_error_on_the_console_not_a_success(tmp_path):
    """records/ read-only: the job's process runs but cannot record; the sweeper cannot
    either. One line names the record; nothing is reported as a success; the resume runs
    the run again."""
    study = write_study(tmp_path / "study", noop_doc())
    assert_ok(cli(study, "run"))
    forget(study, B, 10)
    before = snapshot(study)
    with read_only(records_dir(study)):
        proc = cli(study, "run")
        line = one_error(proc)
        assert proc.returncode != 0
        assert f"the record of {B}" in line and "read-only" in line, line
        assert "success 1" not in proc.stdout
    assert snapshot(study) == before and temp_files(study) == []
    resumed(study, before)


# -- in-process: the write helpers -------------------------------------------------------------

def test_atomic_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    with tmpfs(tmp_path / "disk", "256k") as disk:
        target = disk / "gen" / "view.json"
        atomic_write_bytes(target, b"old\n")
        ledger = Ledger(disk / "gen")
        ledger.write({"run_id": "r", "attempt_id": "A", "status": "success"})
        record = ledger.path("r").read_bytes()
        fill(disk)
        with pytest.raises(StorageError) as info:
            atomic_write_bytes(target, b"x" * 100_000, what="the view view.json")
        exc = info.value
        assert exc.errno == errno.ENOSPC and isinstance(exc, OSError)
        assert isinstance(exc, StudyError) and "\n" not in str(exc)
        assert str(exc).startswith(f"cannot write the view view.json ({target}): no space")
        with pytest.raises(StorageError, match="the record of r"):
            ledger.write({"run_id": "r", "attempt_id": "B", "status": "failed",
                          "pad": "x" * 100_000})
        with pytest.raises(StorageError, match="repro_lock.jsonl"):
            append_line(disk / "gen" / "repro_lock.jsonl", {"pad": "x" * 100_000})
        assert target.read_bytes() == b"old\n" and ledger.path("r").read_bytes() == record
        assert [p.name for p in disk.rglob(".*tmp*")] == []


def test_a_vanished_folder_is_a_storage_error(tmp_path, monkeypatch):
    import silisocs_study.atomic as atomic

    monkeypatch.setattr(atomic, "make_dirs", lambda *a: None)   # created, then removed
    with pytest.raises(StorageError, match="its folder disappeared") as info:
        atomic_write_bytes(tmp_path / "gone" / "f.json", b"{}", what="the record of r")
    assert info.value.errno == errno.ENOENT


def test_storage_error_exit_code_and_pickling(monkeypatch):
    monkeypatch.setattr(errors, "_WRITTEN", [False])
    exc = StorageError("/s/generated/records/r.json", "the record of r", errno=errno.EROFS)
    assert exc.exit_code == 2                      # nothing written by this invocation
    errors.note_written()
    assert exc.exit_code == 1                      # partial work
    back = pickle.loads(pickle.dumps(exc))         # a job's return crosses processes
    assert str(back) == str(exc) and back.errno == errno.EROFS
    assert errors.as_storage_error(OSError(errno.ENOSPC, "x", "/f")).filename == "/f"
    assert errors.as_storage_error(OSError(errno.EBADF, "x")) is None


# -- symlinks planted in the study ---------------------------------------------------------------

@pytest.mark.slow
def test_a_symlinked_repro_lock_jsonl_is_replaced_never_followed(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    assert_ok(cli(study, "run"))
    forget(study, B, 10)
    outside = tmp_path / "outside.jsonl"
    outside.write_text("not the study's\n")
    lock = study / "generated" / "repro_lock.jsonl"
    lock.unlink()
    lock.symlink_to(outside)
    run = cli(study, "run")
    assert_ok(run)
    assert outside.read_text() == "not the study's\n"
    assert not lock.is_symlink()
    assert sorted(json.loads(line)["run_id"] for line in lock.read_text().splitlines()) == \
        sorted([A, B])
    assert f"{lock} was a symlink (to {outside})" in run.stderr


@pytest.mark.parametrize("which", ["SUMMARY.md", "summary_log.jsonl"])
@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_symlinked_summary_files_are_refused_before_either_is_written(tmp_path, which,
                                                                      dangling):
    study = write_study(tmp_path / "study", noop_doc())
    md, log = study / "SUMMARY.md", study / "generated" / "summary_log.jsonl"
    link = md if which == "SUMMARY.md" else log
    outside = tmp_path / "elsewhere" / which
    outside.parent.mkdir()
    if not dangling:
        outside.write_text("theirs\n")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    proc = cli(study, "summary-append", "--author", "me", "--note", "n")
    line = one_error(proc)
    assert proc.returncode == 2 and "symlink" in line and str(link) in line, line
    assert (outside.read_text() == "theirs\n") if not dangling else not outside.exists()
    other = log if link == md else md
    assert not other.exists()                      # checked before either was written
    link.unlink()
    assert_ok(cli(study, "summary-append", "--author", "me", "--note", "n"))
    assert md.read_text().startswith("# Study Summary") and len(log.read_text().splitlines()) == 1


@pytest.mark.slow
def test_symlinked_lock_files_are_refused_and_nothing_is_created_outside(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    assert_ok(cli(study, "run"))
    gen = study / "generated"
    before = snapshot(study)
    for name, code in ((".views.lock", 2), (".organized.lock", 1)):
        target = tmp_path / "outside" / f"created-by-{name}"
        link = gen / name
        link.unlink(missing_ok=True)
        link.symlink_to(target)                    # dangling: open(O_CREAT) would create it
        proc = cli(study, "organize")
        line = one_error(proc)
        assert f"({link})" in line and "symlink" in line, line
        # the views' lock guards everything (exit 2: nothing written); the organized tree's
        # comes after the views were rewritten (exit 1: partial work)
        assert proc.returncode == code, proc.stderr
        assert not target.exists() and not target.parent.exists()
        link.unlink()
        assert_ok(cli(study, "organize"))
    assert snapshot(study) == before


def test_lock_and_append_helpers_never_follow_links(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    with pytest.raises(StorageError, match="symlink"):
        append_line(link, {"a": 1})
    with pytest.raises(StorageError, match="symlink"):
        with exclusive(link):
            pass
    os.mkfifo(tmp_path / "fifo.lock")                # would block a plain open()
    with pytest.raises(StorageError, match="not a regular file"):
        with exclusive(tmp_path / "fifo.lock"):
            pass
    assert real.read_text() == ""
    folder = tmp_path / "gen"
    (folder / "elsewhere").mkdir(parents=True)
    (folder / "records").symlink_to(folder / "elsewhere")
    with pytest.raises(StorageError, match="symlink"):
        Ledger(folder).write({"run_id": "r", "status": "success"})
    assert list((folder / "elsewhere").iterdir()) == []
