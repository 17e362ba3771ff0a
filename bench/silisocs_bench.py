"""Our design line vs silisocs' own study runner on the same study, on this machine.

The study is ``examples/studies/silisocs_timeline`` (silisocs' runner with its scripted
model, offline: 2 timeline modes × 2 seeds = 4 runs, evaluators activity_summary and
action_metrics_detailed). Each repetition copies it into fresh workspaces and runs, in
alternating order within one process tree:

* **silisocs-study** (the peer): ``python -m silisocs.studies.run_study --study ... run --yes``
  — one runner process per run, each evaluator a ``uv run python -m ...`` subprocess;
* **ours**: the design line, basic launcher — ``python -m silisocs.runtime.runner --multirun
  hydra/sweeper=study hydra.sweeper.study=...`` (every run and evaluator in one process).

Both get the same environment: byte-code cached like a normal install (this sandbox sets
PYTHONDONTWRITEBYTECODE; ``--cold`` keeps it), ``uv`` on PATH and VIRTUAL_ENV set so the
peer's ``uv run python`` uses this project's environment. Prints wall times, the ratio
ours / peer (target ≤ 0.3) and checks both produced 4 successful runs.

Usage: ``uv run python bench/silisocs_bench.py [--pairs 3] [--cold] [--joblib]``
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
STUDY = REPO / "examples" / "studies" / "silisocs_timeline" / "study.yaml"
STUDY_ID = "silisocs_timeline"


def _uv_dir() -> str | None:
    found = shutil.which("uv")
    if found:
        return str(Path(found).parent)
    for python in ("python3", "python"):
        try:
            out = subprocess.run([python, "-c", "import uv; print(uv.find_uv_bin())"],
                                 capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip():
            return str(Path(out.stdout.strip()).parent)
    return None


def environment(cold: bool, cache: Path) -> dict[str, str]:
    env = dict(os.environ, HYDRA_FULL_ERROR="1", VIRTUAL_ENV=str(Path(PY).parents[1]))
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    uv = _uv_dir()
    if uv is None:
        raise SystemExit("uv not found: the peer runs its evaluators with `uv run`")
    env["PATH"] = f"{Path(PY).parent}{os.pathsep}{uv}{os.pathsep}{env.get('PATH', '')}"
    return env


def workspace(root: Path) -> Path:
    """``<root>/experiments/studies/<id>/study.yaml``: the peer's layout (ours reads it too).

    The run folders are given as an absolute ``output_root_override`` (the same layout both
    tools default to): silisocs' runner changes directory to the first folder above its
    package that holds a pyproject.toml — this repository, from its .venv — so the relative
    folders the peer passes by default would land in this repository, for both sides alike."""
    import yaml

    study = root / "experiments" / "studies" / STUDY_ID
    study.mkdir(parents=True)
    doc = yaml.safe_load(STUDY.read_text())
    doc["study"]["run_defaults"]["output_root_override"] = str(
        study) + "/runs/{hypothesis_id}/{condition_id}/{scenario}/seed_{seed}/run"
    (study / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return study


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed


def successes(study: Path) -> int:
    lock = json.loads((study / "generated" / "repro_lock.json").read_text())
    return sum(1 for r in lock["records"] if r.get("status") == "success"
               and all(e.get("status") == "success" for e in r.get("evaluations") or []))


def peer(tmp: Path, env: dict) -> float:
    root = tmp / "peer"
    study = workspace(root)
    took = timed([PY, "-m", "silisocs.studies.run_study", "--study", str(study),
                  "--repo-root", str(root), "run", "--yes"], root, env)
    assert successes(study) == 4, "the peer did not run all 4 runs with their evaluators"
    return took


def ours(tmp: Path, env: dict, *launcher: str) -> float:
    root = tmp / "ours"
    study = workspace(root)
    took = timed([PY, "-m", "silisocs.runtime.runner", "--multirun", "hydra/sweeper=study",
                  f"hydra.sweeper.study={study}", f"hydra.sweeper.repo_root={root}",
                  f"hydra.sweep.dir={tmp / 'sweep'}", *launcher], root, env)
    assert successes(study) == 4, "the design line did not run all 4 runs with evaluators"
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--cold", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE (every process compiles its imports)")
    parser.add_argument("--joblib", action="store_true",
                        help="also time the design line with the joblib launcher (2 workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="silisocs-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = environment(args.cold, tmp / "pycache")
        with tempfile.TemporaryDirectory(dir=tmp) as warm:   # fill the byte-code cache
            ours(Path(warm), env)
            peer(Path(warm), env)
        theirs, mine, pooled = [], [], []
        sides = [("peer", peer, theirs), ("ours", ours, mine)]
        if args.joblib:
            sides.append(("ours, joblib", lambda t, e: ours(t, e, "hydra/launcher=joblib",
                                                            "hydra.launcher.n_jobs=2"), pooled))
        for i in range(args.pairs):
            for name, fn, into in (sides if i % 2 == 0 else sides[::-1]):   # alternate
                with tempfile.TemporaryDirectory(dir=tmp) as rep:
                    into.append(fn(Path(rep), env))
                    print(f"  pair {i + 1}: {name:12s} {into[-1]:6.2f} s", flush=True)
    p, o = statistics.median(theirs), statistics.median(mine)
    print(f"silisocs-study (peer): median {p:.2f} s  (min {min(theirs):.2f}, "
          f"max {max(theirs):.2f})")
    print(f"design line (ours):    median {o:.2f} s  (min {min(mine):.2f}, max {max(mine):.2f})")
    print(f"ratio ours / peer: {o / p:.2f}  (target <= 0.30){'  [cold]' if args.cold else ''}")
    if pooled:
        j = statistics.median(pooled)
        print(f"design line, joblib 2 workers: median {j:.2f} s, ratio {j / p:.2f}")


if __name__ == "__main__":
    main()
