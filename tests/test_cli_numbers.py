"""Numeric flags: a bad number is one line on stderr, exit code 2, and nothing written.

Every numeric flag of ``run``, ``submitit``, ``slurm-array`` and ``task`` goes through the
flag types of :mod:`silisocs_study.cli`: counts are integers >= 1 (or >= 0 where 0
means none), durations and sizes are finite numbers above 0. A refused value reaches the
verb as a BadNumber and becomes the usual one-line StudyError before the verb starts.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from silisocs_study import cli as flags
from silisocs_study import numeric
from silisocs_study.cli import main

STUDY = Path(__file__).parent / "bad_studies" / "filters" / "study.yaml"

BAD = [
    ("run", "--batch-size", "-1"), ("run", "--batch-size", "0"), ("run", "--batch-size", "x"),
    ("run", "--batch-size", "1" * 30),
    ("run", "--max-concurrent", "0"), ("run", "--max-concurrent", "-3"),
    ("run", "--timeout-seconds", "nan"), ("run", "--timeout-seconds", "inf"),
    ("run", "--timeout-seconds", "-1"), ("run", "--timeout-seconds", "0"),
    ("run", "--timeout-seconds", "1e300"),
    ("run", "--max-retries", "-1"), ("run", "--max-retries", "1.5"),
    ("submitit", "--max-concurrent", "0"), ("submitit", "--timeout-seconds", "NaN"),
    ("submitit", "--timeout-minutes", "0"), ("submitit", "--cpus-per-task", "-2"),
    ("submitit", "--mem-gb", "nan"), ("submitit", "--mem-gb", "-1"),
    ("submitit", "--gpus-per-node", "-1"), ("submitit", "--nodes", "0"),
    ("submitit", "--tasks-per-node", "0"), ("submitit", "--server-timeout-seconds", "inf"),
    ("slurm-array", "--runs-per-task", "0"), ("slurm-array", "--timeout-minutes", "-5"),
    ("slurm-array", "--max-concurrent", "0"), ("slurm-array", "--mem-gb", "inf"),
    ("slurm-array", "--timeout-seconds", "-inf"),
]
SUBPROCESS = [("run", "--batch-size", "-1"), ("run", "--timeout-seconds", "nan"),
              ("slurm-array", "--runs-per-task", "0")]


@pytest.fixture
def study(tmp_path) -> Path:
    target = tmp_path / "study" / "study.yaml"
    target.parent.mkdir()
    shutil.copy(STUDY, target)
    return target


def _argv(study: Path, verb: str, flag: str, value: str) -> list[str]:
    return ["--study", str(study), "--repo-root", str(study.parent), verb, f"{flag}={value}"]


def _check(stderr: str, flag: str, study: Path) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), repr(stderr)
    assert stderr.startswith(f"error: {flag} must be "), stderr
    assert sorted(p.name for p in study.parent.iterdir()) == ["study.yaml"]   # nothing written


@pytest.mark.parametrize("verb,flag,value", BAD)
def test_bad_number_in_process(study, capsys, verb, flag, value):
    assert main(_argv(study, verb, flag, value)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _check(captured.err, flag, study)


@pytest.mark.parametrize("verb,flag,value", SUBPROCESS)
def test_bad_number_subprocess(study, verb, flag, value):
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", *_argv(study, verb, flag,
                                                                          value)],
                          cwd=study.parent, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    _check(proc.stderr, flag, study)


def test_task_index_is_not_negative(tmp_path, capsys):
    assert main(["task", "--submission", str(tmp_path), "--index", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --index must be an integer >= 0, got -1\n"
    assert list(tmp_path.iterdir()) == []


def test_messages_name_the_problem():
    cases = [(flags.positive_int, "-1", "must be a positive integer, got -1"),
             (flags.positive_int, "abc", "must be a positive integer, got 'abc'"),
             (flags.positive_int, str(2 ** 40), "must be at most 2,147,483,647"),
             (flags.non_negative_int, "-1", "must be an integer >= 0, got -1"),
             (flags.seconds, "nan", "got nan (not a finite number)"),
             (flags.seconds, "-1", "must be a positive number of seconds, got -1"),
             (flags.seconds, "1e10", "must be at most 1,000,000,000"),
             (flags.gigabytes, "0", "must be a positive number of GB, got 0")]
    for parse, text, message in cases:
        refused = parse(text)
        assert isinstance(refused, flags.BadNumber), text
        assert message in refused.problem, (text, refused.problem)


def test_good_numbers_pass():
    assert flags.positive_int("8") == 8
    assert flags.non_negative_int("0") == 0   # --max-retries 0 / --gpus-per-node 0: none
    assert flags.seconds("1.5") == 1.5
    assert flags.seconds("1e9") == 1e9
    assert flags.gigabytes("0.5") == 0.5


def test_run_limit_from_the_environment(monkeypatch):
    monkeypatch.delenv(numeric.RUN_LIMIT_ENV, raising=False)
    assert numeric.run_limit() == 1_000_000
    monkeypatch.setenv(numeric.RUN_LIMIT_ENV, "50_000")
    assert numeric.run_limit() == 50_000
    for bad in ("0", "-1", "many"):
        monkeypatch.setenv(numeric.RUN_LIMIT_ENV, bad)
        with pytest.raises(numeric.StudyError, match="SILISOCS_STUDY_MAX_RUNS must be a "
                                                     "positive integer"):
            numeric.run_limit()


def test_other_flag_errors_are_one_line_too(study, capsys):
    """Not numbers, but the same rule: an unknown choice is one line and exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--study", str(study), "run", "--launcher", "nope"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "invalid choice" in err
