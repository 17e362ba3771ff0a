"""Throughput of ``slurm-array --submit`` against a raw ``sbatch --array`` of the same runs.

Needs a Slurm cluster (``bash slurm_scripts/local-cluster.sh up``). Both sides run the same
100 no-op Hydra jobs (``python -m tests.apps.noop`` with each run's exact overrides):

* **orchestrated**: ``silisocs-sweep slurm-array --submit --array-mode run
  [--runs-per-task K]`` — plan written once, each task reads its rows, runs them through the
  study sweeper, and the job callback writes a record per run. Timed from the CLI call until
  all 100 record files are final.
* **raw**: ``sbatch --array=0-99`` of a script that runs line ``$SLURM_ARRAY_TASK_ID`` of a
  file holding each run's exact argv (from plan.json) and touches a marker. Timed until
  all 100 markers exist (the same kind of end point: the run's output is visible), and,
  for reference, until sacct shows all 100 tasks COMPLETED (sacct lags by 1-5 s).

Fair because both do the same app invocations with the same resources (1 CPU per task, no
throttle) on the same cluster; the difference is the orchestrator (its task process,
sweeper, records, plan slice). Python byte-code is cached for both in a prefix outside the
repo (this sandbox sets PYTHONDONTWRITEBYTECODE, which would make every process recompile
Hydra; ``--cold`` keeps that).

    uv run python bench/slurm_bench.py                      # K = 1 and K = 5
    uv run python bench/slurm_bench.py --runs-per-task 1 10 --repeat 2
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable


def bench_env(cold: bool) -> dict[str, str]:
    env = dict(os.environ)
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", "/tmp/silisocs-pycache")
    return env


def write_study(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    seeds = ", ".join(str(i) for i in range(n))
    (root / "study.yaml").write_text(f"""\
schema_version: 1
study:
  name: bench
  study_id: bench
  scenarios: [s]
  run_defaults:
    runner_module: tests.apps.noop
    config_path: {ROOT / 'tests/apps/noop/conf'}
    seeds: [{seeds}]
hypotheses:
  h:
    conditions:
      noop: {{}}
""")
    return root


def final_records(study: Path) -> int:
    folder = study / "generated" / "records"
    n = 0
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            if json.loads(path.read_bytes()).get("status") not in (None, "running"):
                n += 1
        except ValueError:
            pass
    return n


def wait(what: str, check, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic()


def sacct_done(job: str, n: int) -> bool:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", job],
                         capture_output=True, text=True, timeout=30).stdout
    states = [ln.split("|", 1)[1].split()[0] for ln in out.splitlines() if "|" in ln]
    return len(states) == n and all(s == "COMPLETED" for s in states)


def orchestrated(work: Path, n: int, per_task: int, env: dict, timeout: float) -> dict:
    study = write_study(work / f"orch_k{per_task}_{time.time_ns()}", n)
    cmd = [PY, "-m", "silisocs_study", "--study", str(study), "--repo-root", str(study),
           "slurm-array", "--submit", "--array-mode", "run", "--runs-per-task", str(per_task)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(study))
    submitted = time.monotonic()
    if proc.returncode != 0:
        raise SystemExit(f"slurm-array failed: {proc.stdout}\n{proc.stderr}")
    sub = json.loads((study / "generated/slurm/submissions.jsonl").read_text().splitlines()[-1])
    try:
        t1 = wait("the orchestrated records", lambda: final_records(study) >= n, timeout)
    finally:
        ids = list(sub["job_ids"]) + ([sub["finalize_job_id"]] if sub.get("finalize_job_id")
                                      else [])
    recs = [json.loads(p.read_bytes()) for p in (study / "generated/records").glob("*.json")]
    bad = [r["run_id"] for r in recs if r.get("status") != "success"]
    return {"seconds": t1 - t0, "submit_seconds": submitted - t0, "failed": len(bad),
            "tasks": sub["n_tasks"], "jobs": ids}


def raw(work: Path, n: int, env: dict, timeout: float) -> dict:
    from silisocs_study.plan import build_plan
    from silisocs_study.planfile import argv_from_plan_row, load_plan_json, write_plan_json
    from silisocs_study.spec import load_study

    study = write_study(work / f"raw_{time.time_ns()}", n)
    plan_path = study / "plan.json"
    write_plan_json(build_plan(load_study(study, study)), plan_path, PY)
    doc = load_plan_json(plan_path)
    lines = [shlex.join(argv_from_plan_row(doc, row) + [
        f"hydra.run.dir={study}/out/{i}"]) for i, row in enumerate(doc["runs"])]
    (study / "commands.txt").write_text("\n".join(lines) + "\n")
    done = study / "done"
    done.mkdir()
    script = study / "raw.sh"
    script.write_text(f"""#!/usr/bin/env bash
set -euo pipefail
i=$SLURM_ARRAY_TASK_ID
cmd=$(sed -n "$((i + 1))p" {shlex.quote(str(study / 'commands.txt'))})
eval "$cmd"
touch {shlex.quote(str(done))}/"$i"
""")
    t0 = time.monotonic()
    job = subprocess.run(["sbatch", "--parsable", f"--array=0-{n - 1}", "--export=ALL",
                          f"--output={study}/log_%a.out", f"--chdir={study}", str(script)],
                         capture_output=True, text=True, env=env, check=True
                         ).stdout.strip().split(";")[0]
    t1 = wait("the raw markers", lambda: len(os.listdir(done)) >= n, timeout)
    t2 = wait("sacct to show the raw array COMPLETED", lambda: sacct_done(job, n), timeout)
    return {"seconds": t1 - t0, "sacct_seconds": t2 - t0, "jobs": [job]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--runs-per-task", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--cold", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE (every process recompiles its imports)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    env = bench_env(args.cold)
    work = Path(tempfile.mkdtemp(prefix="silisocs-slurm-bench-"))
    subprocess.run([PY, "-m", "tests.apps.noop", f"hydra.run.dir={work}/warm"], env=env,
                   cwd=str(work), capture_output=True)           # fill the byte-code cache
    subprocess.run([PY, "-m", "silisocs_study", "schema"], env=env, capture_output=True)
    results: dict[str, list[dict]] = {"raw": []}
    jobs: list[str] = []
    try:
        for _ in range(args.repeat):
            r = raw(work, args.runs, env, args.timeout)
            jobs += r["jobs"]
            results["raw"].append(r)
            print(f"raw array:            {r['seconds']:6.1f} s until all outputs "
                  f"({r['sacct_seconds']:.1f} s until sacct COMPLETED)", flush=True)
            for k in args.runs_per_task:
                o = orchestrated(work, args.runs, k, env, args.timeout)
                jobs += o["jobs"]
                results.setdefault(f"k{k}", []).append(o)
                print(f"slurm-array K={k:<3d}     {o['seconds']:6.1f} s until all records "
                      f"final ({o['tasks']} tasks, submit {o['submit_seconds']:.2f} s, "
                      f"{o['failed']} not success)", flush=True)
    finally:
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True)
    raw_s = statistics.median(r["seconds"] for r in results["raw"])
    raw_sacct = statistics.median(r["sacct_seconds"] for r in results["raw"])
    print(f"\n{args.runs} no-op runs, median of {args.repeat}; throughput ratio = raw time / "
          f"orchestrated time (target >= 0.8)")
    print(f"  raw sbatch --array      {raw_s:6.1f} s   {args.runs / raw_s:5.2f} runs/s   "
          f"(sacct-confirmed: {raw_sacct:.1f} s)")
    for k in args.runs_per_task:
        s = statistics.median(o["seconds"] for o in results[f"k{k}"])
        print(f"  slurm-array K={k:<3d}      {s:6.1f} s   {args.runs / s:5.2f} runs/s   "
              f"ratio {raw_s / s:4.2f} (vs sacct-confirmed raw: {raw_sacct / s:4.2f})")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work dir: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
