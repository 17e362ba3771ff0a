"""Strict placeholder templates: ``{seed}`` renders, ``{sede}`` is an error naming itself.

Templates are checked once, when the spec is read (so an unknown placeholder is reported with
its file and line), and rendered per run with ``str.format_map`` (fast: C code). Format specs
work (``{seed:03d}``); attribute and index access do not. ``{{`` and ``}}`` are literal braces.
"""
from __future__ import annotations

import string
from functools import lru_cache
from typing import Iterable, Mapping

RUN_PLACEHOLDERS = ("run_id", "study_name", "study_id", "hypothesis_id", "condition_id",
                    "sub_experiment", "scenario", "seed")
EVAL_PLACEHOLDERS = RUN_PLACEHOLDERS + ("run_dir", "output_path", "python")

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """Raised with a message that names the offending placeholder."""


@lru_cache(maxsize=4096)
def fields(template: str) -> tuple[str, ...]:
    """Placeholder names used by ``template``; raises TemplateError when malformed."""
    names = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(f"malformed template {template!r}: {exc}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or not name.isidentifier():
            raise TemplateError(f"invalid placeholder '{{{name}}}' in {template!r}")
        if conversion:
            raise TemplateError(f"conversion '!{conversion}' not allowed in {template!r}")
        if spec and "{" in spec:
            raise TemplateError(f"nested placeholder in format spec of {template!r}")
        names.append(name)
    return tuple(names)


def check(template: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """Validate ``template`` against the allowed placeholder names; returns the names used."""
    names = fields(template)
    allowed = tuple(allowed)
    for name in names:
        if name not in allowed:
            from .errors import did_you_mean

            raise TemplateError(f"unknown placeholder '{{{name}}}'{did_you_mean(name, allowed)};"
                                f" known: {', '.join('{' + a + '}' for a in allowed)}")
    return names


def render(template: str, values: Mapping[str, object]) -> str:
    """Render a template already validated with :func:`check`."""
    if "{" not in template and "}" not in template:
        return template
    try:
        return template.format_map(values)
    except (KeyError, ValueError, TypeError) as exc:
        raise TemplateError(f"cannot render {template!r}: {exc}") from None
