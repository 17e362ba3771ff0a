"""8 parallel joblib workers × 200 jobs lose no record.

While the study runs, this test keeps reading ``repro_lock.jsonl`` (appended by the jobs'
callbacks from 8 worker processes): every complete line must parse at every moment. At the
end there are 200 records and every view lists 200 runs.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from conftest import (PY, REPO, load_records, natural, noop_doc, read_jsonl,
                      view_run_ids, write_study)

N = 200


@pytest.mark.slow
def test_200_jobs_on_8_joblib_workers_lose_no_record(tmp_path):
    study = write_study(tmp_path / "study", noop_doc(seeds=range(1, N + 1)))
    cmd = [PY, "-m", "silisocs_study", "--study", str(study), "--repo-root", str(REPO), "run",
           "--launcher", "joblib", "--max-concurrent", "8", "--yes"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lock = study / "generated" / "repro_lock.jsonl"
    seen_lines = 0
    try:
        while proc.poll() is None:
            if lock.exists():
                text = lock.read_text()
                complete = text[: text.rfind("\n") + 1].splitlines()
                for line in complete:
                    assert json.loads(line)["status"] in ("success", "failed")
                seen_lines = max(seen_lines, len(complete))
            time.sleep(0.05)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert seen_lines > 0, "never saw the lock file being appended to"
    records = load_records(study)
    assert len(records) == N
    assert all(r["status"] == "success" for r in records.values())
    assert len({r["pid"] for r in records.values()}) >= 2     # really ran in parallel
    assert all(r["launcher"] == "JoblibLauncher" for r in records.values())
    want = natural(records)
    for view, ids in view_run_ids(study).items():
        assert ids == want, view
    assert len(read_jsonl(lock)) == N
