"""The bad-study corpus: every case fails with exactly its one expected error line, exit 2.

``tests/bad_studies/expected.yaml`` maps each case to the line the CLI must print after
``error: ``. All cases run in-process (fast); a representative subset also runs as a real
``python -m silisocs_study`` subprocess, which is what users see.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from silisocs_study.cli import main

CORPUS = Path(__file__).parent / "bad_studies"
MANIFEST = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
HELPERS = {"expected.yaml", "filters"}  # the manifest; a valid study the filter cases use

# one or more of each kind of failure: YAML level, schema level, ids, seeds, templates,
# paths, evaluators, reuse, experiments, filters, missing files
SUBPROCESS_CASES = [
    "seeds_not_a_list", "invalid_yaml", "duplicate_key", "python_object_tag",
    "unknown_key_newline", "shared_output_dir_across_conditions",
    "exp_sample_too_many", "exp_name_renders_bad_id",
    "filter_unknown_run_id", "missing_file",
    # hostile input: the 50,000-deep file once crashed the interpreter (exit 139), the
    # alias bomb and the huge seed range once hung or ran out of memory
    "yaml_nesting_50000", "yaml_alias_bomb", "seed_repeats_huge", "exp_grid_too_big",
    "template_format_char",
]
# refused within a second each, before the work they describe is done
FAST_CASES = ["yaml_nesting_50000", "yaml_nesting_500", "yaml_alias_bomb",
              "seed_repeats_huge", "exp_seeds_huge", "exp_grid_too_big"]


def _case_dir(case: dict) -> Path:
    target = CORPUS / case["study"].split("#")[0]
    return target if target.is_dir() else CORPUS


def _argv(case: dict, output: Path) -> list[str]:
    return ["--study", case["study"], "--repo-root", str(_case_dir(case)), "plan",
            "--output", str(output), *case.get("args", [])]


def _check_message(name: str, message: str) -> None:
    case = MANIFEST[name]
    case_dir = str(_case_dir(case))
    if "error" in case:
        assert message == case["error"].replace("{case_dir}", case_dir)
    else:
        assert re.fullmatch(case["regex"], message), (message, case["regex"])


def _check_stderr(name: str, stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, repr(stderr)
    assert stderr.startswith("error: "), repr(stderr)
    _check_message(name, stderr[len("error: "):-1])


def test_manifest_covers_the_corpus():
    """Every file or folder in the corpus is a case, and every case names something."""
    named = {MANIFEST[c]["study"].split("#")[0] for c in MANIFEST}
    present = {p.name for p in CORPUS.iterdir()} - HELPERS
    assert present - named == set(), "corpus entries without an expected error"
    missing = {n for n in named - present if n not in HELPERS}
    assert missing == {"does_not_exist.yaml"}  # the one case about a missing file
    assert len(MANIFEST) >= 45
    assert sum(1 for c in MANIFEST.values() if c["study"].startswith("exp_")) >= 20
    for name, case in MANIFEST.items():
        assert ("error" in case) != ("regex" in case), name
        assert set(case) <= {"study", "args", "error", "regex"}, name


def test_located_errors_name_file_line_column_and_path():
    """Spec mistakes (not flag or file-level ones) point at file:line:col: yaml.path."""
    located = re.compile(r"[\w./-]+\.yaml:\d+:\d+: ")
    unlocated = {"missing_file", "not_utf8", "empty_file", "directory_without_study_yaml",
                 "exp_two_experiments", "experiment_name_unknown",
                 "shared_output_dir_across_conditions"}
    for name, case in MANIFEST.items():
        if name.startswith("filter_") or name in unlocated:
            continue
        text = case.get("error") or case["regex"].replace("\\", "")
        assert located.match(text), name


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_case_in_process(name, tmp_path, monkeypatch, capsys):
    case = MANIFEST[name]
    monkeypatch.chdir(CORPUS)
    output = tmp_path / "plan.json"
    code = main(_argv(case, output))
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    _check_stderr(name, captured.err)
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_case_subprocess(name, tmp_path):
    case = MANIFEST[name]
    output = tmp_path / "plan.json"
    proc = subprocess.run([sys.executable, "-m", "silisocs_study", *_argv(case, output)],
                          cwd=CORPUS, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    _check_stderr(name, proc.stderr)
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", FAST_CASES)
def test_hostile_case_is_refused_fast(name, tmp_path, monkeypatch, capsys):
    import time

    case = MANIFEST[name]
    monkeypatch.chdir(CORPUS)
    start = time.perf_counter()
    assert main(_argv(case, tmp_path / "plan.json")) == 2
    assert time.perf_counter() - start < 1.0
    _check_stderr(name, capsys.readouterr().err)


def test_filters_study_itself_is_valid(tmp_path, monkeypatch, capsys):
    """The filter cases fail because of their flags, not because the study is bad."""
    monkeypatch.chdir(CORPUS)
    output = tmp_path / "plan.json"
    assert main(["--study", "filters", "--repo-root", str(CORPUS / "filters"), "plan",
                 "--output", str(output), "--only-hypothesis", "h1",
                 "--only-seed", "2"]) == 0
    assert "Runs: 4 of 18" in capsys.readouterr().out
    assert output.exists()
