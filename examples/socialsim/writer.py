"""Run-directory writer: streams events, injects debug failures, writes manifest and metrics.

Event logs are streamed episode by episode (a crashed run leaves partial logs, like a real
simulation would); the JSON/YAML summaries are written atomically, and ``run_manifest.json``
is written last, so its presence and ``status`` tell readers whether the run completed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from .sim import Simulation, agent_id, game_master_of, interactive_per_agent

FAIL_MODES = ("none", "raise", "exit", "sleep")
SCHEMA_VERSION = 1
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask once so atomic files get normal permissions


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same directory + os.replace so readers never see halves."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _line(row: Mapping[str, Any]) -> str:
    # Rows are built with a fixed key order, so compact dumps are byte-stable per seed.
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def action_paths(num_game_masters: int) -> list[str]:
    """Relative action-log paths: one at the root, or one per game-master subfolder."""
    if num_game_masters == 1:
        return ["action_events.jsonl"]
    return [f"gm_{i}/action_events.jsonl" for i in range(num_game_masters)]


def _inject(mode: str, sleep_seconds: float, handles: list[IO[str]]) -> None:
    if mode == "raise":
        raise RuntimeError("injected failure")
    if mode == "exit":
        for fh in handles:
            fh.flush()
        os._exit(3)  # hard death on purpose: no cleanup, no manifest
    if mode == "sleep":
        time.sleep(sleep_seconds)


def execute(config: Mapping[str, Any], output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Simulate ``config`` (a resolved plain dict) into ``output_dir``; return a small summary.

    Any exception (or interrupt) still leaves a ``failed`` manifest before propagating.
    """
    started = time.perf_counter()
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    debug = config.get("debug") or {}
    fail = str(debug.get("fail", "none"))
    sleep_seconds = float(debug.get("sleep_seconds", 0))
    num_gm = int(config["env"]["num_game_masters"])
    rel_actions = action_paths(max(1, num_gm))
    counters: dict[str, int] = {}
    error: str | None = "interrupted"
    try:
        if fail not in FAIL_MODES:
            raise ValueError(f"debug.fail must be one of {FAIL_MODES}, got {fail!r}")
        if num_gm < 1:
            raise ValueError("env.num_game_masters must be >= 1")
        effective = yaml.safe_dump(dict(config), sort_keys=False)
        atomic_write_text(out / "effective_config.yaml", effective)
        sim = Simulation(config)
        counters = sim.counters  # live view: partial counts on failure
        _stream(sim, out, num_gm, rel_actions, fail, sleep_seconds)
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _write_summaries(config, out, counters, num_gm, rel_actions, error, started)
    n = int(config["num_agents"])
    return {
        "status": "success",
        "output_dir": str(out),
        "scenario": config["scenario"]["scenario_name"],
        "seed": config["seed"],
        "actions_total": counters["actions_total"],
        "probes_total": counters["probes_total"],
        "interactive_per_agent": round(interactive_per_agent(counters, n), 4),
    }


def _stream(
    sim: Simulation, out: Path, num_gm: int, rel_actions: list[str], fail: str, sleep_seconds: float
) -> None:
    """Append each episode's events to the logs, injecting the debug failure mid-run."""
    gm_of = {agent_id(i): game_master_of(i, sim.n, num_gm) for i in range(sim.n)}
    for rel in rel_actions:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        action_fhs = [
            stack.enter_context(open(out / rel, "w", encoding="utf-8")) for rel in rel_actions
        ]
        probe_fh = stack.enter_context(open(out / "probe_events.jsonl", "w", encoding="utf-8"))
        handles = [*action_fhs, probe_fh]
        inject_after = (sim.steps - 1) // 2  # mid-run, so failures leave partial logs behind
        injected = False
        for episode in sim.episodes():
            for row in episode.actions:
                action_fhs[gm_of[row["source_user"]]].write(_line(row))
            probe_fh.writelines(_line(row) for row in episode.probes)
            if not injected and episode.episode >= inject_after:
                injected = True
                _inject(fail, sleep_seconds, handles)
        if not injected:
            _inject(fail, sleep_seconds, handles)


def _write_summaries(
    config: Mapping[str, Any],
    out: Path,
    counters: Mapping[str, int],
    num_gm: int,
    rel_actions: list[str],
    error: str | None,
    started: float,
) -> None:
    scenario = config["scenario"]["scenario_name"]
    params = config["env"]["gm"]["components"]["observe"]["params"]
    metrics = {
        "meta": {
            "num_agents": config["num_agents"],
            "num_game_masters": num_gm,
            "num_steps": config["num_steps"],
            "seed": config["seed"],
            "scenario": scenario,
            "timeline_mode": params["timeline_mode"],
            "output_dir": str(out),
        },
        "counters": dict(counters),
        "wall_seconds": round(time.perf_counter() - started, 6),
    }
    atomic_write_json(out / "sim_metrics.json", metrics)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "status": "failed" if error else "success",
        "error": error,
        "scenario": scenario,
        "seed": config["seed"],
        "num_agents": config["num_agents"],
        "num_steps": config["num_steps"],
        "run_name": config.get("run_name"),
        "experiment_name": config.get("experiment_name"),
        "game_masters": [{"name": f"gm_{i}"} for i in range(max(1, num_gm))],
        "artifacts": {
            "effective_config": "effective_config.yaml",
            "sim_metrics": "sim_metrics.json",
            "action_events": rel_actions,
            "probe_events": ["probe_events.jsonl"],
        },
    }
    atomic_write_json(out / "run_manifest.json", manifest)
