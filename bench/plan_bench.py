"""Time `plan --output` on a synthetic 50,000-run study as a whole process.

4 hypotheses × 50 conditions × 5 scenarios × 50 seeds, a few overrides per level. Prints wall
time (including interpreter start), peak RSS of the child and the size of plan.json.
Targets on the 2-core dev machine: ≤0.8 s, ≤120 MB, ≤25 MB.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def synthetic_study(hypotheses: int = 4, conditions: int = 50, scenarios: int = 5,
                    seeds: int = 50) -> str:
    lines = ["schema_version: 1", "study:", "  name: bench_study", "  study_id: bench_study",
             "  question: how fast is the planner?",
             "  scenarios: [" + ", ".join(f"scenario_{i}" for i in range(scenarios)) + "]",
             "  run_defaults:", "    runner_module: examples.socialsim",
             "    seed_start: 100", f"    seed_repeats: {seeds}", "    overrides:",
             "      num_agents: 50", "      num_steps: 10", "      sim.llm.temperature: 0.7",
             "evaluations:", "  - id: actions", "    preset: builtin.action_metrics_detailed",
             "  - id: probes", "    preset: builtin.probe_metrics_detailed",
             "hypotheses:"]
    for h in range(hypotheses):
        lines += [f"  h{h}:", f"    statement: hypothesis {h}", "    overrides:",
                  f"      env.gm.components.observe.params.timeline_size: {8 + h}",
                  "    conditions:"]
        for c in range(conditions):
            lines += [f"      c{c:02d}:", "        overrides:",
                      f"          env.gm.components.observe.params.timeline_mode: mode_{c % 3}",
                      f"          agents.persona.prior: {c / 10}",
                      f"          +sim.extra_note: 'condition {c}, with spaces'"]
    return "\n".join(lines) + "\n"


def run_once(study: Path, out: Path) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "silisocs_study", "--study", str(study), "--repo-root",
           str(study.parent), "plan", "--output", str(out), "--skip-config-check"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"plan failed: {proc.stderr.decode()}")
    # ru_maxrss of children is the max over all waited children: run each in a fresh
    # grandchild wrapper to isolate when needed; here one child at a time suffices.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(rss, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study.yaml"
        study.write_text(synthetic_study())
        out = Path(tmp) / "plan.json"
        walls, rsss = [], []
        for _ in range(args.repeat):
            wall, rss = run_once(study, out)
            walls.append(wall)
            rsss.append(rss)
        size = out.stat().st_size / 1e6
        print(f"plan --output, 50,000 runs, {args.repeat} runs of a whole process:")
        print(f"  wall   median {statistics.median(walls):.3f} s  (min {min(walls):.3f}, "
              f"max {max(walls):.3f})   target <= 0.8 s")
        print(f"  peak RSS      {max(rsss):.1f} MB   target <= 120 MB")
        print(f"  plan.json     {size:.1f} MB   target <= 25 MB")


if __name__ == "__main__":
    main()
