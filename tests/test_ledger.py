"""The ledger under concurrency, and views rebuilt from all records.

The stress test starts 8 real interpreters that write records (``Ledger.write``) and append
lock lines (``lockfile.append_line``) at the same time, with lines larger than a pipe buffer
(4 KiB) so that unlocked or split writes would interleave; a reader in this process keeps
parsing the files while they are being written.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import PY, REPO, read_jsonl

from silisocs_study.ledger import Ledger
from silisocs_study.ledger.lockfile import append_line
from silisocs_study.ledger.views import rebuild_views

WORKER = """
import os, sys, time
from pathlib import Path
from silisocs_study.ledger import Ledger
from silisocs_study.ledger.lockfile import append_line
gen, wid, n, go = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.001)
ledger = Ledger(gen)
pad = str(wid) * 6000
for i in range(n):
    rec = {"run_id": f"w{wid}__r{i}", "attempt_id": f"{wid}-{i}", "status": "success",
           "worker": wid, "i": i, "pad": pad}
    ledger.write(rec)
    append_line(gen / "repro_lock.jsonl", rec)
    # everyone also rewrites one shared record: each write must stay whole
    ledger.write({"run_id": "shared", "attempt_id": f"{wid}-{i}", "status": "running",
                  "pad": pad})
"""

WORKERS, PER_WORKER = 8, 60


def test_8_processes_writing_records_and_lock_lines_lose_nothing(tmp_path):
    gen = tmp_path / "generated"
    gen.mkdir()
    go = tmp_path / "go"
    procs = [subprocess.Popen([PY, "-c", WORKER, str(gen), str(w), str(PER_WORKER), str(go)],
                              cwd=REPO) for w in range(WORKERS)]
    time.sleep(0.5)   # let every interpreter start, then release them together
    go.touch()
    shared_reads = 0
    lock = gen / "repro_lock.jsonl"
    while any(p.poll() is None for p in procs):
        shared = gen / "records" / "shared.json"
        if shared.exists():
            data = json.loads(shared.read_bytes())   # never a half-written file
            assert data["run_id"] == "shared" and len(data["pad"]) == 6000
            shared_reads += 1
        if lock.exists():
            text = lock.read_text()
            for line in text[: text.rfind("\n") + 1].splitlines():
                json.loads(line)                      # complete lines never interleave
        time.sleep(0.005)
    assert [p.wait() for p in procs] == [0] * WORKERS
    assert shared_reads > 0

    ledger = Ledger(gen)
    records = ledger.all()
    assert ledger.unreadable == []
    assert len(records) == WORKERS * PER_WORKER + 1
    for w in range(WORKERS):
        for i in range(PER_WORKER):
            rec = records[f"w{w}__r{i}"]
            assert rec["pad"] == str(w) * 6000 and rec["history"] == []
    lines = read_jsonl(lock)
    assert len(lines) == WORKERS * PER_WORKER
    assert sorted((r["worker"], r["i"]) for r in lines) == \
        [(w, i) for w in range(WORKERS) for i in range(PER_WORKER)]
    assert all(r["pad"] == str(r["worker"]) * 6000 for r in lines)
    assert not [p for p in (gen / "records").iterdir() if p.name.startswith(".")]


def test_append_line_writes_whole_lines_under_the_lock(tmp_path):
    path = tmp_path / "sub" / "lock.jsonl"
    append_line(path, {"a": "ü" * 3, "n": None})
    append_line(path, {"b": Path("/x")})   # not JSON-native: stringified, not an error
    assert read_jsonl(path) == [{"a": "üüü", "n": None}, {"b": "/x"}]


def test_a_new_attempt_moves_the_previous_one_into_history(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.write({"run_id": "r", "attempt_id": "A", "status": "running", "session": "s1"})
    ledger.write({"run_id": "r", "attempt_id": "A", "status": "failed", "error": "boom",
                  "session": "s1"})
    assert ledger.read("r")["history"] == []          # same attempt: updated in place
    ledger.write({"run_id": "r", "attempt_id": "B", "status": "success", "session": "s2"})
    rec = ledger.read("r")
    assert rec["status"] == "success"
    assert rec["history"] == [{"attempt_id": "A", "session": "s1", "status": "failed",
                               "error": "boom"}]


def test_views_come_from_all_records_in_natural_order(tmp_path):
    ledger = Ledger(tmp_path)
    ids = ["h2__c__s__seed10", "h1__c__s__seed10", "h1__c__s__seed2", "h2__c__s__seed2",
           "h1__c__s__seed1"]
    for run_id in ids:
        ledger.write({"run_id": run_id, "attempt_id": run_id, "status": "success",
                      "fingerprint": "f1"})
    (tmp_path / "records" / "broken.json").write_text("{not json")
    records = rebuild_views(tmp_path, {"name": "t"}, {"study": {"name": "t"}},
                            {"h1__c__s__seed2": "f2"}, REPO)
    want = ["h1__c__s__seed1", "h1__c__s__seed2", "h1__c__s__seed10", "h2__c__s__seed2",
            "h2__c__s__seed10"]
    assert [r["run_id"] for r in records] == want
    lock = json.loads((tmp_path / "repro_lock.json").read_text())
    assert [r["run_id"] for r in lock["records"]] == want
    assert lock["environment"]["git_commit"]
    assert list(lock)[0] == "generator" and lock["generator"].startswith("silisocs-study")
    assert {"silisocs_version", "captured_at", "python_version"} <= set(lock["environment"])
    for rec in lock["records"]:   # the silisocs runner's record keys, always present
        assert rec["reused"] == {"source": None, "eval": None}
        assert rec["return_code"] == 0 and rec["tail"] == [] and "planned_output_rootname" in rec
    lines = read_jsonl(tmp_path / "repro_lock.jsonl")
    assert [r["run_id"] for r in lines] == want
    assert all(list(r)[0] == "generator" for r in lines)
    index = json.loads((tmp_path / "study_index.json").read_text())
    assert index["counts"] == {"success": 4, "stale": 1}
    assert [r["stale"] for r in index["records"]] == [False, True, False, False, False]
    import yaml

    assert (tmp_path / "study_enriched.yaml").read_text().startswith("# generator: silisocs")
    enriched = yaml.safe_load((tmp_path / "study_enriched.yaml").read_text())
    assert enriched["study"] == {"name": "t"}
    assert [r["run_id"] for r in enriched["generated"]["records"]] == want
    # no temp files are left behind by the atomic writes
    # no temp files left behind (the lock file that serialises rebuilds is meant to stay)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")
                and p.name != ".views.lock"]
    assert os.listdir(tmp_path / "records").count("broken.json") == 1


def test_enriched_yaml_rows_load_back_exactly():
    """The run rows of study_enriched.yaml are written without PyYAML's representer (for
    speed); every value must load back as itself."""
    import math

    import yaml
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from silisocs_study.ledger.views import _yaml_rows

    def load(rows):
        return yaml.safe_load("generated:\n" + _yaml_rows(rows))["generated"]["records"]

    tricky = ["q\"uote", "back\\slash", "new\nline", "\t", "ü", "😀", "\x85", "\u2028",
              "\ufeff", "null", "yes", "~", "1e3", "", " lead", "a: b", "#c", "{x}", "- y",
              1e-05, 0.1, -3.5, 1e300, float("inf"), 7, -2, 2 ** 70, True, False, None]
    row = {f"k{i}": v for i, v in enumerate(tricky)}
    row["axes"] = {"lr": 1e-05, "name": "a,b", "ü": None}
    assert load([row, {"run_id": "r"}]) == [row, {"run_id": "r"}]
    assert math.isnan(load([{"n": float("nan")}])[0]["n"])
    assert load([]) == []

    scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(
        allow_nan=False)

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.text(), scalars | st.dictionaries(st.text(), scalars),
                           max_size=5))
    def round_trip(row):
        assert load([row]) == [row]

    round_trip()


