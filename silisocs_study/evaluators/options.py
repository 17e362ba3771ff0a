"""Evaluator options: one parser shared by the CLI and ``run_builtin`` so both doors agree.

Kept import-light (stdlib only) because the registry and the CLI import it eagerly.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

NO_PLOTS_ENV = "SILISOCS_EVAL_NO_PLOTS"
_TRUE = {"1", "true", "yes", "on"}


class EvaluatorUsageError(ValueError):
    """A caller mistake (unknown preset, missing run dir, bad flag): exit code 2, no traceback."""


@dataclass(frozen=True)
class EvalOptions:
    """What an evaluator may be told beyond run dir and output path.

    ``carry_forward`` is tri-state: None lets the run's effective_config decide.
    ``cwd`` anchors relative ``path/file.py:func`` postprocessors (the orchestrator's repo root).
    ``context`` is handed through to postprocessors unchanged.
    """

    plots: bool = True
    carry_forward: bool | None = None
    postprocessors: tuple[str, ...] = ()
    cwd: Path = field(default_factory=Path.cwd)
    context: Mapping[str, object] = field(default_factory=dict)


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def parse_options(args: Sequence[str] = (), context: Mapping[str, object] | None = None) -> EvalOptions:
    """Parse evaluator ``static_args``-style flags, with ``context`` supplying defaults.

    Recognised: ``--postprocessor X`` / ``--postprocessor=X`` (repeatable), ``--carry-forward``,
    ``--no-carry-forward``, ``--no-plots``, ``--plots``. Anything else is a usage error, so a typo
    in a study file is reported instead of silently ignored.
    """
    ctx = dict(context or {})
    plots = _flag(ctx.get("plots", True)) and not _flag(os.environ.get(NO_PLOTS_ENV, ""))
    carry = ctx.get("carry_forward")
    carry_forward = None if carry is None else _flag(carry)
    posts = [str(p) for p in cast("Iterable[object]", ctx.get("postprocessors", ()) or ())]
    cwd = Path(str(ctx.get("cwd") or Path.cwd()))

    items = [str(a) for a in args]
    i = 0
    while i < len(items):
        arg = items[i]
        if arg == "--postprocessor":
            if i + 1 >= len(items) or not items[i + 1].strip():
                raise EvaluatorUsageError("--postprocessor needs a value (module:function or file.py:function)")
            posts.append(items[i + 1])
            i += 2
            continue
        if arg.startswith("--postprocessor="):
            value = arg.split("=", 1)[1]
            if not value.strip():
                raise EvaluatorUsageError("--postprocessor needs a value (module:function or file.py:function)")
            posts.append(value)
        elif arg == "--carry-forward":
            carry_forward = True
        elif arg == "--no-carry-forward":
            carry_forward = False
        elif arg == "--no-plots":
            plots = False
        elif arg == "--plots":
            plots = True
        else:
            raise EvaluatorUsageError(f"unknown evaluator argument: {arg!r}")
        i += 1
    return EvalOptions(
        plots=plots,
        carry_forward=carry_forward,
        postprocessors=tuple(posts),
        cwd=cwd,
        context=ctx,
    )
