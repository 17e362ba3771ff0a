"""Evaluator entries (global ``evaluations`` and per-condition lists) → EvaluatorSpec."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import did_you_mean
from ..model import EvaluatorSpec
from .. import templates
from .fields import Section, check_id, describe, probe_path
from .yamlload import Document, Path_

EVAL_KEYS = ("id", "preset", "command", "static_args", "input_mode", "run_dir_arg",
             "output_arg", "explicit_args", "include_run_dir_in_explicit", "output_subpath",
             "manage_io_args", "enabled", "timeout_seconds", "description", "notes")
EXPLICIT_DEFAULTS = {
    "checkpoint": "--checkpoint-path", "effective_config": "--effective-config-path",
    "metrics": "--metrics-path", "prompts": "--prompts-path", "run_stats": "--run-stats-path",
}


def parse_evaluations(doc: Document, path: Path_, value: Any, *, default_prefix: str,
                      study_dir: Path, extra_placeholders: tuple[str, ...] = ()
                      ) -> list[EvaluatorSpec]:
    """Parse one evaluator list; ids default to ``<prefix>_<k>`` (1-based)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.error(path, f"expected a list of evaluator mappings, got {describe(value)}")
    specs: list[EvaluatorSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        spec = _parse_one(doc, path + (i,), item, f"{default_prefix}_{i + 1}", study_dir,
                          extra_placeholders)
        if spec.id in seen:
            raise doc.error(path + (i, "id"), f"duplicate evaluator id '{spec.id}' "
                                              f"(also at {path[-1]}[{seen[spec.id]}])")
        seen[spec.id] = i
        specs.append(spec)
    return specs


def _parse_one(doc: Document, path: Path_, item: Any, default_id: str, study_dir: Path,
               extra_placeholders: tuple[str, ...]) -> EvaluatorSpec:
    from ..evaluators.registry import PRESETS

    sec = Section.of(doc, path, item, "an evaluator mapping")
    sec.check_keys(EVAL_KEYS)
    eval_id = sec.str("id", default_id)
    check_id(doc, path + ("id",), eval_id, "evaluator id")
    preset_name = sec.str("preset")
    preset = None
    if preset_name is not None:
        preset = PRESETS.get(preset_name)
        if preset is None:
            raise sec.error("preset", f"unknown evaluator preset '{preset_name}'"
                                      f"{did_you_mean(preset_name, PRESETS)}; known: "
                                      f"{', '.join(sorted(PRESETS))}")
    command = sec.command("command")
    builtin = None
    if command is None:
        if preset is None:
            raise sec.error(None, "an evaluator needs a 'preset' or a 'command'")
        if preset.module is not None:  # an in-process preset (its command is the fallback)
            builtin = preset.name
        if preset.command:
            command = tuple(preset.command)
        else:
            command = ("{python}", "-m", "silisocs_study.evaluators", preset.name)
    allowed = templates.EVAL_PLACEHOLDERS + extra_placeholders
    static_args = _static_args(sec)
    for j, token in enumerate(command):
        _check_template(doc, path + ("command", j) if sec.data.get("command") is not None
                        and isinstance(sec.data["command"], list) else path + ("command",),
                        token, allowed)
    for j, token in enumerate(static_args):
        _check_template(doc, path + ("static_args", j), token, allowed)
    command = tuple(_resolve_script(doc, sec, token, study_dir, preset_name) for token in command)
    explicit = dict(EXPLICIT_DEFAULTS)
    given = sec.mapping("explicit_args")
    for key, flag in given.items():
        if key not in EXPLICIT_DEFAULTS:
            raise doc.error(path + ("explicit_args", key),
                            f"unknown explicit_args key '{key}'"
                            f"{did_you_mean(key, EXPLICIT_DEFAULTS)}", at_key=True)
        if not isinstance(flag, str) or not flag.strip():
            raise doc.error(path + ("explicit_args", key), "expected a non-empty flag string")
        explicit[key] = flag
    timeout = sec.seconds("timeout_seconds")
    return EvaluatorSpec(
        id=eval_id, preset=preset_name, builtin=builtin, command=command,
        static_args=static_args,
        input_mode=sec.choice("input_mode", ("run_dir", "explicit_paths"), "run_dir"),
        run_dir_arg=sec.str("run_dir_arg", "--run-dir"),
        output_arg=sec.str("output_arg", "--output"),
        explicit_args=tuple(explicit.items()),
        include_run_dir_in_explicit=sec.bool("include_run_dir_in_explicit", True),
        output_subpath=_output_subpath(sec, preset),
        manage_io_args=sec.bool("manage_io_args", True),
        enabled=sec.bool("enabled", True),
        timeout_seconds=timeout,
    )


def _static_args(sec: Section) -> tuple[str, ...]:
    value = sec.data.get("static_args")
    if value is None:
        return ()
    if not isinstance(value, list) or any(isinstance(v, (list, dict)) or v is None
                                          for v in value):
        raise sec.error("static_args", f"expected a list of strings, got {describe(value)}")
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in value)


def _output_subpath(sec: Section, preset) -> str:
    default = preset.output_subpath if preset is not None else "eval.json"
    value = sec.str("output_subpath", default)
    p = Path(value)
    if p.is_absolute() or ".." in p.parts:
        raise sec.error("output_subpath", f"must be a relative path inside the evaluator "
                                          f"folder, got '{value}'")
    return value


def _check_template(doc: Document, path: Path_, token: str, allowed) -> None:
    try:
        templates.check(token, allowed)
    except templates.TemplateError as exc:
        raise doc.error(path, str(exc)) from None


def _resolve_script(doc: Document, sec: Section, token: str, study_dir: Path,
                    preset_name: str | None) -> str:
    """'./x' tokens name files beside the study file. A missing one is a plan warning, not an
    error: a study planned on another machine may not have it; the evaluator fails when it
    runs (see silisocs_study.evaluate)."""
    if not token.startswith("./"):
        return token
    key = "command" if sec.data.get("command") is not None else "preset"
    target, exists = probe_path(doc, sec.path + (key,), study_dir / token[2:])
    if not exists:
        owner = f"preset '{preset_name}'" if preset_name else "this evaluator"
        doc.warn(sec.path + (key,), f"script not found: {target} (required by {owner}; "
                                    f"the evaluator fails when it runs)")
    return str(target)


def merge_evaluations(global_specs: list[EvaluatorSpec], local: list[EvaluatorSpec],
                      mode: str) -> tuple[EvaluatorSpec, ...]:
    """append: globals then locals, a local with a global's id replaces it in place."""
    if mode == "replace":
        return tuple(local)
    merged = {e.id: e for e in global_specs}
    for e in local:
        merged[e.id] = e
    return tuple(merged.values())
