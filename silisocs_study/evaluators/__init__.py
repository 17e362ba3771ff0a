"""Builtin evaluators: tolerant readers of a run's event files that emit statistics-ready JSON.

Importing the package is cheap; evaluator modules (numpy, matplotlib) load when a preset runs.
"""
from .options import EvalOptions, EvaluatorUsageError
from .registry import PRESETS, Preset, get_preset, preset_names, run_builtin

__all__ = ["PRESETS", "EvalOptions", "EvaluatorUsageError", "Preset", "get_preset", "preset_names", "run_builtin"]
