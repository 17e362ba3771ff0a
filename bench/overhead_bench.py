"""Overhead of the study machinery on the 2-core dev machine.

1. Per-job overhead: 200 no-op jobs (``tests/apps/noop``) through the basic launcher with
   Hydra's BasicSweeper (``--multirun seed=range(1,201)``) vs the study sweeper + StudyCallback
   (a 200-run study of the same app, no evaluators), run alternately A B A B … in one process
   tree. Prints per-job ms (whole process wall time / 200) and the ratio. Target ≤ 1.10.
2. ``silisocs-sweep run`` on a completed 10,000-run study (nothing to do; 10,000 success
   records with matching fingerprints written through the ledger API). Target ≤ 1.5 s.
3. Rebuilding the views from 10,000 records (``views.refresh``, full). Target ≤ 3 s (views
   alone; with the organized tree timed separately).
4. Incremental refresh of 1 changed run in 10,000 records (``views.refresh(plan,
   changed={run_id})``, the run's record rewritten as a new attempt): views only (target
   ≤ 50 ms), then with the organized tree; beside them what the four files weigh and what
   writing that many bytes costs on this disk (the floor of any atomic rewrite of them).

Usage: ``uv run python bench/overhead_bench.py [--pairs 3] [--jobs 200] [--records 10000]
[--skip-jobs] [--skip-records]``
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
APP = "tests.apps.noop"


def noop_study(directory: Path, runs: int, conditions: int = 1) -> Path:
    per = runs // conditions
    doc = {"schema_version": 1,
           "study": {"name": "bench", "scenarios": ["s"],
                     "run_defaults": {"runner_module": APP, "seed_start": 1,
                                      "seed_repeats": per}},
           "hypotheses": {"h1": {"conditions": {
               f"c{i:02d}": {"overrides": {"x": i}} for i in range(conditions)}}}}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def bench_jobs(tmp: Path, pairs: int, jobs: int) -> None:
    study = noop_study(tmp / "jobs_study", jobs)
    basic, swept = [], []
    for i in range(pairs):
        a_dir = tmp / f"basic_{i}"
        basic.append(timed([PY, "-m", APP, "--multirun", f"seed=range(1,{jobs + 1})",
                            f"hydra.sweep.dir={a_dir}"], tmp))
        shutil.rmtree(a_dir, ignore_errors=True)
        for sub in ("generated", "runs"):
            shutil.rmtree(study / sub, ignore_errors=True)
        swept.append(timed([PY, "-m", APP, "--multirun", "hydra/sweeper=study",
                            f"hydra.sweeper.study={study}", f"hydra.sweeper.repo_root={REPO}",
                            f"hydra.sweep.dir={tmp / f'study_{i}'}"], tmp))
        n_records = len(list((study / "generated" / "records").glob("*.json")))
        assert n_records == jobs, n_records
        print(f"  pair {i + 1}: basic sweeper {basic[-1] / jobs * 1000:6.1f} ms/job   "
              f"study sweeper + callback {swept[-1] / jobs * 1000:6.1f} ms/job", flush=True)
    a, b = statistics.median(basic), statistics.median(swept)
    print(f"per-job (median of {pairs}): basic {a / jobs * 1000:.1f} ms, study "
          f"{b / jobs * 1000:.1f} ms, ratio {b / a:.3f} (target <= 1.10)")


def completed_study(tmp: Path, n: int) -> Path:
    """A study of n runs, each with a success record carrying the plan's fingerprint."""
    from silisocs_study.jobs import job_document
    from silisocs_study.ledger import Ledger, utc_now
    from silisocs_study.ledger.provenance import environment
    try:
        from silisocs_study.ledger.recorder import base_record
    except ImportError:   # before it had a public name
        from silisocs_study.ledger.recorder import _base as base_record
    from silisocs_study.plan import build_plan
    from silisocs_study.spec import load_study

    study_dir = noop_study(tmp / "big_study", n, conditions=10)
    study = load_study(study_dir, REPO)
    plan = build_plan(study)
    assert len(plan.runs) == n
    ledger = Ledger(study.generated)
    env = environment(REPO)
    start = time.perf_counter()
    for run in plan.runs:
        rec = base_record(job_document(study, run, PY, session="bench"), f"a-{run.run_id}")
        now = utc_now()
        rec.update(status="success", started_at=now, finished_at=now, exit_code=0, error=None,
                   error_tail=[], run_dir=run.output_dir, duration_ms=1.0, evaluations=[],
                   eval_paths={}, provenance=env, launcher="BasicLauncher", pid=1)
        ledger.write(rec)
    print(f"  (wrote {n} records through Ledger.write in {time.perf_counter() - start:.1f} s)")
    return study_dir


def _figures(times: list[float]) -> str:
    return f"best {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms"


def bench_records(tmp: Path, n: int, repeats: int = 3) -> None:
    from silisocs_study.plan import build_plan
    from silisocs_study.spec import load_study
    from silisocs_study.views import refresh

    study_dir = completed_study(tmp, n)
    study = load_study(study_dir, REPO)
    plan = build_plan(study)
    views, full = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = refresh(plan, organized=False)
        views.append(time.perf_counter() - t0)
        assert len(result.records) == n and not result.incremental
        t0 = time.perf_counter()
        refresh(plan, force=True)   # views and organized tree, whatever changed
        full.append(time.perf_counter() - t0)
    print(f"views rebuild from {n} records: {_figures(views)} (target <= 3 s); with the "
          f"organized tree (force): {_figures(full)}")
    bench_incremental(study, plan, n, repeats + 2)

    # the study is complete and its views are current: `run` has nothing to do
    cmd = [PY, "-m", "silisocs_study", "--study", str(study_dir), "--repo-root", str(REPO),
           "run"]
    times = [timed(cmd, tmp) for _ in range(repeats)]
    print(f"run on a completed {n}-run study: median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, runs {', '.join(f'{t:.2f}' for t in times)}; "
          f"target <= 1.5 s)")


def bench_incremental(study, plan, n: int, repeats: int) -> None:
    """One run finishes again (a new attempt, still a success: the study stays complete);
    the views follow."""
    from silisocs_study.ledger import Ledger, utc_now
    from silisocs_study.ledger.views import VIEW_NAMES
    from silisocs_study.views import refresh

    ledger = Ledger(study.generated)
    step = max(1, n // (2 * repeats + 1))
    turn = iter(range(0, n, step))

    def finish_one() -> str:
        run_id = plan.runs[next(turn)].run_id
        rec = ledger.read(run_id)
        rec.update(attempt_id=f"again-{time.time_ns()}", finished_at=utc_now(),
                   duration_ms=rec.get("duration_ms", 0) + 1)
        ledger.write(rec)
        return run_id

    refresh(plan)                                   # views, index and tree current
    views, reads, tree = [], [], []
    for _ in range(repeats):
        run_id = finish_one()
        t0 = time.perf_counter()
        result = refresh(plan, changed={run_id}, organized=False)
        views.append(time.perf_counter() - t0)
        assert result.incremental and result.rebuilt
        t0 = time.perf_counter()
        assert len(result.records) == n           # the unchanged ones are read on first use
        reads.append(time.perf_counter() - t0)
    for _ in range(repeats):
        run_id = finish_one()
        t0 = time.perf_counter()
        result = refresh(plan, changed={run_id})
        tree.append(time.perf_counter() - t0)
        assert result.incremental and result.organize_error is None
    weight = sum((study.generated / name).stat().st_size for name in VIEW_NAMES)
    print(f"incremental refresh of 1 changed run in {n} records: views only "
          f"{_figures(views)} (target <= 50 ms); first use of .records (reads the other "
          f"{n - 1}) {_figures(reads)}; with the organized tree {_figures(tree)}")
    write, sync = _write_floor(study.generated, weight, repeats)
    print(f"  the four views weigh {weight / 1e6:.1f} MB; writing that many bytes here: "
          f"{_figures(write)} + fsync {_figures(sync)} (the floor of an atomic rewrite)")


def _write_floor(folder: Path, size: int, repeats: int) -> tuple[list[float], list[float]]:
    data = os.urandom(1 << 20) * (size // (1 << 20) + 1)
    data = data[:size]
    write, sync = [], []
    for _ in range(repeats):
        path = folder / ".bench-floor.tmp"
        t0 = time.perf_counter()
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            t1 = time.perf_counter()
            os.fsync(fh.fileno())
        write.append(t1 - t0)
        sync.append(time.perf_counter() - t1)
        path.unlink()
    return write, sync


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--skip-jobs", action="store_true")
    parser.add_argument("--skip-records", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load:.1f}")
    with tempfile.TemporaryDirectory(prefix="overhead_bench_") as tmp:
        if not args.skip_jobs:
            bench_jobs(Path(tmp), args.pairs, args.jobs)
        if not args.skip_records:
            bench_records(Path(tmp), args.records)


if __name__ == "__main__":
    main()
