"""``summary-append`` on a copied study writes into the copy, never into the original.

A study copied from another (the repo's example, or a study silisocs wrote with explicit
``study_summary_path`` / ``summary_log_path`` naming its own folder) appends to the SUMMARY.md
beside the copy and the log in the copy's generated/. An explicit path that still names the
original's folder is refused at its line (exit 2, nothing written anywhere). Real CLI
subprocesses on real files.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "studies" / "recsys_behavior_sweep" / "study.yaml"
BIN = Path(sys.executable).parent
ORIGINAL = "examples/studies/recsys_behavior_sweep"
EXPLICIT = (f"  study_summary_path: {ORIGINAL}/SUMMARY.md\n"
            f"  summary_log_path: {ORIGINAL}/generated/summary_log.jsonl\n")


def append(cwd: Path, study: str, *more: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "silisocs-sweep"), "--study", study, "summary-append",
                           "--author", "ana", "--note", "a note", *more], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"))


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def repo_with_original(tmp_path: Path, text: str) -> Path:
    """A repo root holding the original study (as ``text``) at the example's place."""
    root = tmp_path / "repo"
    (root / ORIGINAL).mkdir(parents=True)
    (root / ORIGINAL / "study.yaml").write_text(text)
    return root


def with_explicit_paths(text: str) -> str:
    anchor = "  scenarios: [election_recsys_engagement]\n"
    assert text.count(anchor) == 1
    return text.replace(anchor, EXPLICIT + anchor)


def test_a_copy_of_the_example_writes_into_the_copy(tmp_path):
    text = EXAMPLE.read_text()
    assert "study_summary_path" not in text and "summary_log_path" not in text
    root = repo_with_original(tmp_path, text)
    copy = root / "studies" / "mine"
    copy.mkdir(parents=True)
    (copy / "study.yaml").write_text(text)
    before = files(root / ORIGINAL)
    proc = append(root, "studies/mine")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"Appended to {copy / 'SUMMARY.md'} and "
                                   f"{copy / 'generated' / 'summary_log.jsonl'}")
    assert (copy / "SUMMARY.md").read_text().startswith(
        "# Study Summary\n\nStudy: recsys_behavior_sweep\n")
    [entry] = [json.loads(x) for x in
               (copy / "generated" / "summary_log.jsonl").read_text().splitlines()]
    assert entry["note"] == "a note" and entry["author"] == "ana"
    assert files(root / ORIGINAL) == before        # the original is untouched


def test_a_copy_still_naming_the_original_is_refused_at_its_line(tmp_path):
    """The copy of a study that names its own files explicitly (as silisocs writes them)."""
    text = with_explicit_paths(EXAMPLE.read_text())
    root = repo_with_original(tmp_path, text)
    copy = root / "studies" / "mine"
    copy.mkdir(parents=True)
    (copy / "study.yaml").write_text(text)
    before = files(root)
    proc = append(root, "studies/mine")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    line = 1 + text.splitlines().index(EXPLICIT.splitlines()[0])
    assert lines == [
        f"error: studies/mine/study.yaml:{line}:23: study.study_summary_path: {ORIGINAL}/"
        f"SUMMARY.md is in the folder of another study ({ORIGINAL}/study.yaml; was this study "
        f"copied from it?): remove study_summary_path and summary_log_path to write beside "
        f"this study (studies/mine/SUMMARY.md), or point them at a place of its own"]
    assert files(root) == before                   # nothing written, in either study

    # the log alone still naming the original: refused at its own line, nothing written
    (copy / "study.yaml").write_text(text.replace(
        f"study_summary_path: {ORIGINAL}/SUMMARY.md", "study_summary_path: studies/mine/S.md"))
    proc = append(root, "studies/mine")
    assert proc.returncode == 2
    assert f"studies/mine/study.yaml:{line + 1}:21: study.summary_log_path: {ORIGINAL}/" \
           f"generated/summary_log.jsonl is in the folder of another study" in proc.stderr
    assert not (copy / "S.md").exists() and files(root / ORIGINAL) == {"study.yaml"}

    # the original itself appends to its own files as before
    proc = append(root, ORIGINAL)
    assert proc.returncode == 0, proc.stderr
    assert (root / ORIGINAL / "SUMMARY.md").exists()
    assert (root / ORIGINAL / "generated" / "summary_log.jsonl").exists()


def test_explicit_paths_of_the_copys_own_or_no_study_folder_are_kept(tmp_path):
    text = EXAMPLE.read_text()
    root = repo_with_original(tmp_path, text)
    copy = root / "studies" / "mine"
    copy.mkdir(parents=True)
    (copy / "study.yaml").write_text(with_explicit_paths(text).replace(ORIGINAL, "notes/mine"))
    proc = append(root, "studies/mine")
    assert proc.returncode == 0, proc.stderr
    assert (root / "notes" / "mine" / "SUMMARY.md").exists()
    assert (root / "notes" / "mine" / "generated" / "summary_log.jsonl").exists()
    assert not (copy / "SUMMARY.md").exists()


def test_a_study_nested_in_another_may_log_into_its_parent(tmp_path):
    text = EXAMPLE.read_text()
    root = repo_with_original(tmp_path, text)
    nested = root / ORIGINAL / "followup"
    nested.mkdir()
    (nested / "study.yaml").write_text(with_explicit_paths(text))
    proc = append(root, f"{ORIGINAL}/followup")
    assert proc.returncode == 0, proc.stderr
    assert (root / ORIGINAL / "SUMMARY.md").exists()
    assert not (nested / "SUMMARY.md").exists()
