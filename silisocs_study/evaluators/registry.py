"""Builtin evaluator presets and the in-process entry point ``run_builtin``.

Import-light on purpose (stdlib only): the planner validates preset names on every study load,
and the job callback imports this in the job process; numpy/matplotlib load only when a preset
actually runs.
"""
from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .options import EvaluatorUsageError, parse_options

PREFIX = "builtin."
_PKG = "silisocs_study.evaluators"


@dataclass(frozen=True)
class Preset:
    """A named evaluator. ``module`` set → runs in-process; ``command`` set → run by the orchestrator.

    Command presets follow the contract ``<command> --run-dir D --output F`` (exit 0 = success);
    ``{python}`` in ``command`` stands for the orchestrator's interpreter.
    """

    name: str
    module: str | None
    output_subpath: str
    command: tuple[str, ...] | None
    description: str


def _module_preset(short: str, module: str, description: str, output: str | None = None) -> Preset:
    name = PREFIX + short
    return Preset(
        name=name,
        module=f"{_PKG}.{module}",
        output_subpath=output or f"{short}.json",
        command=("{python}", "-m", _PKG, name),
        description=description,
    )


_ALL = (
    _module_preset(
        "activity_summary", "activity",
        "Light counts over all action events: events, users, episodes, label counts, top labels.",
        "activity_summary.json",
    ),
    _module_preset(
        "probe_summary", "activity",
        "Light counts over all probe events: labels, episodes, responses present.",
        "probe_summary.json",
    ),
    _module_preset(
        "action_metrics_detailed", "action_metrics",
        "Action labels per episode, per agent and per agent-episode, plus label transitions.",
    ),
    _module_preset(
        "probe_metrics_detailed", "probe_metrics",
        "Every probe: typed per-label stats, per episode/agent, plots and postprocessors.",
    ),
    _module_preset("probe_binary_detailed", "probe_metrics", "Like probe_metrics_detailed, BinaryProbe only."),
    _module_preset(
        "probe_numeric_detailed", "probe_metrics", "Like probe_metrics_detailed, NumericRatingProbe only."
    ),
    _module_preset("probe_choice_detailed", "probe_metrics", "Like probe_metrics_detailed, ChoiceProbe only."),
    _module_preset(
        "probe_freetext_detailed", "probe_metrics", "Like probe_metrics_detailed, FreeTextProbe only."
    ),
    Preset(
        name=PREFIX + "study_eval",
        module=None,
        output_subpath="eval.json",
        command=("{python}", "./eval.py"),
        description="The study's own eval.py (next to study.yaml), called with --run-dir D --output F.",
    ),
)

PRESETS: dict[str, Preset] = {p.name: p for p in _ALL}


def preset_names() -> list[str]:
    """All preset names, in registry order."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """Look a preset up with or without the ``builtin.`` prefix."""
    key = name if name.startswith(PREFIX) else PREFIX + name
    try:
        return PRESETS[key]
    except KeyError:
        raise EvaluatorUsageError(
            f"unknown evaluator preset {name!r} (known: {', '.join(preset_names())})"
        ) from None


def write_json_atomic(path: Path, payload: object) -> None:
    """Write JSON via a temp file in the same directory + ``os.replace``: readers never see half a file."""
    import orjson

    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(
        payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.write(b"\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run_builtin(
    name: str,
    run_dir: Path,
    output: Path,
    args: Sequence[str] = (),
    context: Mapping | None = None,
) -> dict:
    """Run a module preset on ``run_dir``, write its payload atomically to ``output``, return it.

    Raises ``EvaluatorUsageError`` for caller mistakes (unknown or command-only preset, missing run
    dir, bad args); any other exception means the evaluation itself failed.
    """
    preset = get_preset(name)
    if preset.module is None:
        raise EvaluatorUsageError(
            f"{preset.name} is a command preset; the orchestrator runs it as "
            f"{' '.join(preset.command or ())} --run-dir D --output F"
        )
    run_path = Path(run_dir)
    if not run_path.is_dir():
        raise EvaluatorUsageError(f"run directory not found: {run_path}")
    out_path = Path(output)
    options = parse_options(args, context)
    module = importlib.import_module(preset.module)
    payload = module.evaluate(preset.name, run_path, out_path, options)
    write_json_atomic(out_path, payload)
    return payload


STUDY_EVAL = PREFIX + "study_eval"
STUDY_EVAL_SCRIPT = "eval.py"


def study_eval_script(study: str | os.PathLike | None) -> Path:
    """The ``eval.py`` that ``builtin.study_eval`` runs: beside the study file (``study`` names
    the file or its folder), else ``./eval.py`` in the current directory."""
    if study is None:
        return Path.cwd() / STUDY_EVAL_SCRIPT
    path = Path(study)
    if not path.exists():
        raise EvaluatorUsageError(f"study not found: {path}")
    return (path if path.is_dir() else path.parent) / STUDY_EVAL_SCRIPT


def run_study_eval(run_dir: Path, output: Path, study: str | os.PathLike | None = None,
                   args: Sequence[str] = (), python: str | None = None) -> None:
    """``builtin.study_eval`` as the orchestrator runs it: ``<python> <study dir>/eval.py
    [args] --run-dir D --output F`` in the current directory; success is exit 0 and a JSON
    object at ``output``. Raises ``EvaluatorUsageError`` (no eval.py, no run dir) or
    ``RuntimeError`` (the script failed)."""
    import json
    import subprocess
    import sys

    script = study_eval_script(study)
    if not script.is_file():
        where = "beside the study file" if study is not None else \
            "in the current directory (or pass --study: the study file or its folder)"
        raise EvaluatorUsageError(f"{STUDY_EVAL} runs the study's {STUDY_EVAL_SCRIPT}: "
                                  f"{script} not found {where}")
    run_path = Path(run_dir)
    if not run_path.is_dir():
        raise EvaluatorUsageError(f"run directory not found: {run_path}")
    out_path = Path(output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [python or sys.executable, str(script), *args, "--run-dir", str(run_path),
            "--output", str(out_path)]
    code = subprocess.run(argv, stdin=subprocess.DEVNULL).returncode
    if code != 0:
        raise RuntimeError(f"{script} exited with code {code}")
    try:
        payload = json.loads(out_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuntimeError(f"{script} exited 0 but wrote no {out_path}") from None
    except ValueError as exc:
        raise RuntimeError(f"{out_path} is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RuntimeError(f"{out_path} holds a JSON {type(payload).__name__}, not an object")
