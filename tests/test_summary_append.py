"""``summary-append``: SUMMARY.md + summary_log.jsonl, validated, safe under concurrency."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from silisocs_study.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "studies" / "recsys_behavior_sweep" / "study.yaml"


@pytest.fixture
def study(tmp_path) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["study"]["study_summary_path"] = str(tmp_path / "notes" / "SUMMARY.md")
    doc["study"]["summary_log_path"] = str(tmp_path / "generated" / "summary_log.jsonl")
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path


def append(study: Path, *args: str) -> int:
    return main(["--study", str(study), "--repo-root", str(REPO), "summary-append", *args])


def test_first_append_writes_headers_and_both_files(study, capsys) -> None:
    evidence = study / "study.yaml"
    assert append(study, "--author", "ana", "--note", "Recsys arms interact more.\nSee h1.",
                  "--hypothesis", "h1", "--condition", "recsys", "--evidence", str(evidence),
                  "--evidence", "missing/file.json") == 0
    captured = capsys.readouterr()
    assert "warning: evidence path does not exist: missing/file.json" in captured.err
    assert "SUMMARY.md" in captured.out
    md = (study / "notes" / "SUMMARY.md").read_text()
    lines = [json.loads(x) for x in
             (study / "generated" / "summary_log.jsonl").read_text().splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    assert set(entry) == {"created_at", "study_id", "study_name", "author", "hypothesis",
                          "condition", "note", "evidence_paths"}
    assert entry["study_id"] == entry["study_name"] == "recsys_behavior_sweep"
    assert (entry["author"], entry["hypothesis"], entry["condition"]) == ("ana", "h1", "recsys")
    assert entry["evidence_paths"] == [str(evidence), "missing/file.json"]   # as given
    assert md.startswith("# Study Summary\n\nStudy: recsys_behavior_sweep\n")
    assert f"## {entry['created_at']} | ana\nHypothesis: h1\nCondition: recsys\n\n" \
           f"Recsys arms interact more.\nSee h1.\n\nEvidence:\n- {evidence}\n" \
           f"- missing/file.json\n" in md

    assert append(study, "--author", "bo", "--note", "second") == 0
    md = (study / "notes" / "SUMMARY.md").read_text()
    assert md.count("# Study Summary") == 1 and md.count("\n## ") == 2
    assert "| bo\nHypothesis: n/a\nCondition: n/a\n\nsecond\n" in md


def test_unknown_hypothesis_or_condition_is_a_user_error(study, capsys) -> None:
    assert append(study, "--author", "a", "--note", "n", "--hypothesis", "h9") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--hypothesis 'h9' is not a hypothesis" in err
    assert append(study, "--author", "a", "--note", "n", "--hypothesis", "h1",
                  "--condition", "recsis") == 2
    assert "did you mean 'recsys'" in capsys.readouterr().err
    assert append(study, "--author", "a", "--note", "n", "--condition", "nope") == 2
    assert append(study, "--author", " ", "--note", "n") == 2
    assert not (study / "notes" / "SUMMARY.md").exists()
    assert not (study / "generated" / "summary_log.jsonl").exists()
    # a condition alone is checked against every hypothesis
    assert append(study, "--author", "a", "--note", "n", "--condition", "chronological") == 0


WORKER = """
import sys
from silisocs_study.cli import main
study, repo, wid = sys.argv[1], sys.argv[2], sys.argv[3]
for i in range(25):
    rc = main(["--study", study, "--repo-root", repo, "summary-append", "--author",
               f"w{wid}", "--note", f"note {wid}-{i} " + "x" * 3000, "--hypothesis", "h1",
               "--evidence", f"e/{wid}/{i}.json"])
    assert rc == 0, rc
"""


def test_concurrent_appends_lose_nothing(study) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(study), str(REPO), str(w)],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for w in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    lines = (study / "generated" / "summary_log.jsonl").read_text().splitlines()
    entries = [json.loads(x) for x in lines]       # every line is whole, valid JSON
    assert len(entries) == 200
    assert {e["note"].split()[1] for e in entries} == {f"{w}-{i}" for w in range(8)
                                                       for i in range(25)}
    md = (study / "notes" / "SUMMARY.md").read_text()
    assert md.count("# Study Summary") == 1 and md.startswith("# Study Summary")
    blocks = md.split("\n## ")[1:]
    assert len(blocks) == 200
    for block in blocks:                           # no block was torn or interleaved
        head, body = block.split("\n", 1)
        wid = head.rsplit("| w", 1)[1]
        assert body.startswith("Hypothesis: h1\nCondition: n/a\n\nnote " + wid + "-")
        i = body.split("note " + wid + "-", 1)[1].split()[0]
        assert body.rstrip().endswith(f"Evidence:\n- e/{wid}/{i}.json")
