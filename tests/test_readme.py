"""Every code block of README.md, run or loaded on a shrunken copy of the repo's examples.

- ``bash``: each command runs (``bash -c``, .venv/bin first on PATH) and must exit 0. Set-up
  prefixes (``python3 -m pip install -q uv && python3 -m uv run``, ``uv run``) are dropped:
  .venv is already set up. ``S`` in ``--study S`` is the README's placeholder for a study: the
  copied example study. Slurm commands run only when ``sinfo`` reaches a controller.
- ``yaml``: a study (``schema_version``) or experiment spec (``experiment.<name>``) is written
  to a file and planned (exit 0); any other YAML block must be a labelled file.
- ``python``: run with ``python -c`` in the copy (exit 0).
- A block right after a line `` `path`: `` is that file of a walkthrough: it is written into a
  fresh folder of its own section, where that section's commands then run.
- Any other block must be in ``NOT_RUNNABLE``, with the reason.

New README blocks are picked up as they are added; the examples are shrunk (fewer seeds,
agents, steps) by explicit edits that fail loudly when the examples change.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from readme_blocks import Block, blocks, commands, write_files

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# first line of a block → why it is not run (the only blocks that are not)
NOT_RUNNABLE = {
    "silisocs-sweep --study PATH [--repo-root DIR] VERB ...":
        "the Commands synopsis: flags in brackets, not a command",
    "records/<run_id>.json":
        "the tree of generated/, not a command",
    "silisocs_study/cli.py":
        "the Layout tree, not a command",
}
# commands that are not run, with the reason
NOT_RUN = {
    "python3 -m pip install -q uv && python3 -m uv run pytest":
        "runs the whole test suite, this file included",
}
SETUP_PREFIXES = ("python3 -m pip install -q uv && python3 -m uv run ", "uv run ")
STUDY_PLACEHOLDER = (" --study S ", " --study examples/studies/recsys_behavior_sweep ")
SLURM_WORDS = ("submitit_slurm", " submitit ", "slurm-array", "local-cluster.sh", "sbatch")
# the shrunken copy: (file, text in the example, replacement); each must match exactly once
SHRINK = [
    ("examples/studies/recsys_behavior_sweep/study.yaml", "seed_repeats: 3", "seed_repeats: 1"),
    ("examples/studies/recsys_behavior_sweep/study.yaml", "num_agents: 50", "num_agents: 8"),
    ("examples/studies/recsys_behavior_sweep/study.yaml", "num_steps: 10", "num_steps: 3"),
    ("examples/studies/silisocs_timeline/study.yaml", "seeds: [1, 2]", "seeds: [1]"),
    ("examples/experiments/mutualism.yaml", "seeds: 10", "seeds: 2"),
    ("examples/experiments/mutualism.yaml", "num_rounds: 40", "num_rounds: 10"),
]


def slurm_reachable() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def env() -> dict:
    out = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    out.pop("VIRTUAL_ENV", None)
    return out


def shrunken_copy(dest: Path) -> Path:
    def ignore(folder, names):   # earlier runs of the examples, caches
        return [n for n in names if n in ("generated", "runs", "__pycache__", "multirun",
                                          "outputs", "data")]

    shutil.copytree(REPO / "examples", dest / "examples", ignore=ignore)
    for name, old, new in SHRINK:
        path = dest / name
        text = path.read_text()
        assert text.count(old) == 1, f"{name}: expected '{old}' once (update SHRINK)"
        path.write_text(text.replace(old, new))
    return dest


def runnable(command: str) -> tuple[str | None, str | None]:
    """(the command as run here, or None; why not)."""
    if command in NOT_RUN:
        return None, NOT_RUN[command]
    for prefix in SETUP_PREFIXES:
        if command.startswith(prefix):
            command = command[len(prefix):]
            break
    command = command.replace(*STUDY_PLACEHOLDER)
    if any(word in f" {command} " for word in SLURM_WORDS) and not slurm_reachable():
        return None, "needs Slurm (sinfo cannot reach a controller)"
    return command, None


def run(command: str, cwd: Path, where: str) -> float:
    started = time.monotonic()
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (f"{where}: `{command}` exited {proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.monotonic() - started


def spec_kind(block: Block) -> str | None:
    if re.search(r"^schema_version:", block.text, re.M):
        return "study"
    if re.search(r"^experiment\.[\w-]+:", block.text, re.M):
        return "experiment"
    return None


def test_every_block_is_runnable_or_allow_listed():
    """Fast: classifies every block (the slow test runs them)."""
    problems = []
    for block in blocks():
        if block.label is not None or block.lang == "bash":
            continue
        if block.lang == "yaml" and spec_kind(block) is None:
            problems.append(f"{block.where()}: a YAML block that is neither a study, an "
                            f"experiment spec nor a labelled file")
        elif block.lang not in ("yaml", "python") and not _allowed(block):
            problems.append(f"{block.where()}: not runnable and not in NOT_RUNNABLE "
                            f"({block.first_line!r}); give it a language or allow-list it "
                            f"with the reason")
    assert not problems, "\n".join(problems)
    used = {key for key in NOT_RUNNABLE if any(_allowed(b, key) for b in blocks())}
    assert used == set(NOT_RUNNABLE), f"stale NOT_RUNNABLE entries: {set(NOT_RUNNABLE) - used}"
    every = [c for b in blocks() if b.lang == "bash" for c in commands(b.text)]
    assert set(NOT_RUN) <= set(every), f"stale NOT_RUN entries: {set(NOT_RUN) - set(every)}"


def _allowed(block: Block, key: str | None = None) -> bool:
    keys = [key] if key else list(NOT_RUNNABLE)
    return block.lang == "" and any(block.first_line.startswith(k) for k in keys)


@pytest.mark.slow
def test_readme_blocks_run_as_written(tmp_path):
    copy = shrunken_copy(tmp_path / "repo")
    found = blocks()
    labelled = {b.section for b in found if b.label is not None}
    folders: dict[str, Path] = {}
    for section in labelled:   # each walkthrough gets a fresh folder with its files
        slug = re.sub(r"\W+", "_", section).strip("_").lower()
        folders[section] = tmp_path / f"walkthrough_{slug}"
        folders[section].mkdir()
        write_files(folders[section], [b for b in found if b.section == section])
    ran: list[str] = []
    skipped: list[str] = []
    for block in found:
        where = block.where()
        cwd = folders.get(block.section, copy)
        if block.label is not None:
            if block.lang == "yaml":
                yaml.safe_load(block.text)          # a file of the walkthrough: valid YAML
            elif block.lang == "python":
                compile(block.text, block.label, "exec")
            continue
        if block.lang == "bash":
            for command in commands(block.text):
                todo, why = runnable(command)
                if todo is None:
                    skipped.append(f"{where}: {command} ({why})")
                    continue
                ran.append(f"{run(todo, cwd, where):5.1f}s {todo[:90]}")
        elif block.lang == "yaml":
            kind = spec_kind(block)
            assert kind is not None, f"{where}: not a study or experiment spec"
            spec = tmp_path / "yaml" / f"L{block.line}"
            spec.mkdir(parents=True)
            file = spec / ("study.yaml" if kind == "study" else "experiment.yaml")
            file.write_text(block.text)
            took = run(f"silisocs-sweep --study {file} --repo-root {copy} plan", copy, where)
            ran.append(f"{took:5.1f}s plan {where}")
        elif block.lang == "python":
            started = time.monotonic()
            proc = subprocess.run([str(BIN / "python"), "-c", block.text], cwd=cwd, env=env(),
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, f"{where}:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
            ran.append(f"{time.monotonic() - started:5.1f}s python {where}")
        else:
            assert _allowed(block), f"{where}: not runnable and not in NOT_RUNNABLE"
    print("ran:\n  " + "\n  ".join(ran) + "\nnot run:\n  " + "\n  ".join(skipped))
    assert len(ran) >= 10
