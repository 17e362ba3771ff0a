"""Shared helpers for the run-pipeline tests: small studies in tmp_path, the CLI and the
Hydra app as real subprocesses, and readers that check every record file parses.

Studies are written into ``tmp_path`` and run with ``--repo-root`` = this repository, so the
example apps import, relative config paths resolve, and records carry real git provenance.
Runs are tiny (socialsim with 5 agents × 2 steps, or the no-op app in ``tests/apps/noop``).
"""
from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import pytest
import yaml

from silisocs_study.launch.sweep import CRASH_MARK  # noqa: F401  (re-exported for tests)

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
SOCIALSIM_CONF = REPO / "examples" / "socialsim" / "conf"
NOOP = "tests.apps.noop"
ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# socialsim runs as small as the app allows while still writing every artifact
TINY = {"num_agents": 5, "num_steps": 2}


def socialsim_doc(conditions: dict[str, dict] | None = None, *, seeds: Iterable[int] = (2, 10),
                  evaluations: bool = True, hypotheses: dict | None = None,
                  name: str = "mini") -> dict[str, Any]:
    """A study.yaml document for examples.socialsim (tiny runs; seeds 2 and 10 by default,
    so natural order — seed2 before seed10 — differs from string order)."""
    if hypotheses is None:
        conditions = conditions if conditions is not None else {
            "chrono": {"overrides": {
                "env.gm.components.observe.params.timeline_mode": "follower_chronological"}},
            "recsys": {"overrides": {
                "env.gm.components.observe.params.timeline_mode": "pure_recsys"}}}
        hypotheses = {"h1": {"statement": "recsys raises engagement",
                             "conditions": conditions}}
    doc: dict[str, Any] = {
        "schema_version": 1,
        "study": {"name": name, "scenarios": ["election_recsys_engagement"],
                  "run_defaults": {"runner_module": "examples.socialsim",
                                   "config_path": "examples/socialsim/conf",
                                   "seeds": list(seeds),
                                   "inject": {"scenario": "scenario"},
                                   "overrides": dict(TINY)}},
        "hypotheses": copy.deepcopy(hypotheses),
    }
    if evaluations:
        doc["evaluations"] = [{"id": "action_metrics",
                               "preset": "builtin.action_metrics_detailed"}]
    return doc


def noop_doc(conditions: dict[str, dict] | None = None, *, seeds: Iterable[int] = (2, 10),
             hypotheses: dict | None = None, name: str = "noop") -> dict[str, Any]:
    """A study.yaml document for the no-op test app (no evaluators)."""
    if hypotheses is None:
        conditions = conditions if conditions is not None else {"a": {"overrides": {"x": 1}}}
        hypotheses = {"h1": {"conditions": conditions}}
    return {
        "schema_version": 1,
        "study": {"name": name, "scenarios": ["s"],
                  "run_defaults": {"runner_module": NOOP, "seeds": list(seeds)}},
        "hypotheses": copy.deepcopy(hypotheses),
    }


def write_study(directory: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as ``<directory>/study.yaml``; returns the study directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


@pytest.fixture
def socialsim_study(tmp_path: Path) -> Path:
    """A 4-run socialsim study (h1: chrono, recsys × seeds 2, 10) copied into tmp_path."""
    return write_study(tmp_path / "study", socialsim_doc())


@pytest.fixture
def noop_study(tmp_path: Path) -> Path:
    """A 2-run study of the no-op app copied into tmp_path."""
    return write_study(tmp_path / "study", noop_doc())


def cli(study: Path, *args: str, timeout: float = 240, cwd: Path | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m silisocs_study --study S --repo-root REPO <args>`` as a real subprocess."""
    cmd = [PY, "-m", "silisocs_study", "--study", str(study), "--repo-root", str(REPO), *args]
    return subprocess.run(cmd, cwd=str(cwd or study.parent), capture_output=True, text=True,
                          timeout=timeout, env=env)


def hydra_multirun(module: str, study: Path, *overrides: str, sweep_dir: Path,
                   timeout: float = 240, cwd: Path | None = None,
                   config_path: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m <app> --multirun hydra/sweeper=study hydra.sweeper.study=...`` directly."""
    cmd = [PY, "-m", module]
    if config_path is not None:
        cmd += ["--config-path", str(config_path)]
    cmd += ["--multirun", "hydra/sweeper=study", f"hydra.sweeper.study={study}",
            f"hydra.sweeper.repo_root={REPO}", f"hydra.sweep.dir={sweep_dir}", *overrides]
    return subprocess.run(cmd, cwd=str(cwd or study.parent), capture_output=True, text=True,
                          timeout=timeout)


def records_dir(study: Path) -> Path:
    return study / "generated" / "records"


def load_records(study: Path) -> dict[str, dict]:
    """Every record file of the study; each must parse and be named after its run_id."""
    out: dict[str, dict] = {}
    directory = records_dir(study)
    if not directory.exists():
        return out
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):   # an interrupted atomic write's temp file
            continue
        assert path.suffix == ".json", path
        rec = json.loads(path.read_bytes())
        assert rec["run_id"] == path.stem, path
        assert rec["run_id"] not in out
        out[rec["run_id"]] = rec
    return out


def read_jsonl(path: Path) -> list[dict]:
    """Every line must be one whole JSON object."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") or text == ""
    return [json.loads(line) for line in text.splitlines()]


def view_run_ids(study: Path) -> dict[str, list[str]]:
    """The run ids each view lists, in file order."""
    gen = study / "generated"
    lock = json.loads((gen / "repro_lock.json").read_text())
    index = json.loads((gen / "study_index.json").read_text())
    enriched = yaml.safe_load((gen / "study_enriched.yaml").read_text())
    return {
        "repro_lock.json": [r["run_id"] for r in lock["records"]],
        "repro_lock.jsonl": [r["run_id"] for r in read_jsonl(gen / "repro_lock.jsonl")],
        "study_index.json": [r["run_id"] for r in index["records"]],
        "study_enriched.yaml": [r["run_id"] for r in enriched["generated"]["records"]],
    }


def natural(ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=lambda s: [int(t) if t.isdigit() else t
                                      for t in re.split(r"(\d+)", s)])


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def assert_ok(proc: subprocess.CompletedProcess, code: int = 0) -> None:
    assert proc.returncode == code, (
        f"exit {proc.returncode} (wanted {code})\n--- stdout\n{proc.stdout[-4000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}")


@pytest.fixture(autouse=True)
def _isolate_hydra_version_base():
    """Hydra's compose API sets a process-wide version_base and never restores it; Hydra's own
    suites (no version_base: chdir defaults to True) then see another test's choice."""
    from hydra.version import VersionBase

    saved = VersionBase.instance().version_base
    yield
    VersionBase.instance().version_base = saved


def compose_app(conf_dir: Path, *overrides: str) -> dict[str, Any]:
    """An example app's config as Hydra composes it, resolved to plain data."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir)):
        cfg = compose(config_name="config", overrides=list(overrides))
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return container


# -- Slurm: tests marked `slurm` run only when a controller answers ---------------------------

_SLURM_STATE: list[str | None] = []


def slurm_unreachable() -> str | None:
    """Why no Slurm cluster can run jobs here (None: `sinfo` reached a controller that has a
    partition). Asked once per session: `sbatch` on PATH is not enough, a machine may have
    the client tools and no running controller."""
    if not _SLURM_STATE:
        import shutil

        if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
            why = "sbatch/sinfo not on PATH"
        else:
            try:
                proc = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True,
                                      text=True, timeout=15)
            except (OSError, subprocess.TimeoutExpired) as exc:
                why = f"sinfo did not answer ({type(exc).__name__})"
            else:
                first = (proc.stderr.strip().splitlines() or [""])[0]
                why = None if proc.returncode == 0 and proc.stdout.strip() else \
                    f"sinfo cannot reach a controller ({first or f'exit {proc.returncode}'})"
        _SLURM_STATE.append(why)
    return _SLURM_STATE[0]


def pytest_collection_modifyitems(config, items) -> None:
    slurm_items = [item for item in items if item.get_closest_marker("slurm")]
    if not slurm_items:
        return
    why = slurm_unreachable()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"no Slurm cluster: {why} (start one with "
                                   f"`bash slurm_scripts/local-cluster.sh up`)")
    for item in slurm_items:
        item.add_marker(skip)
