"""Strict placeholder templates: ``{seed}`` renders, ``{sede}`` is an error naming itself.

Templates are checked once, when the spec is read (so an unknown placeholder is reported with
its file and line), and rendered per run with ``str.format_map`` (fast: C code). Format specs
work (``{seed:03d}``, ``{x:>8}``, ``{t:.2f}``) within Python's format mini-language, with a
width and precision of at most 3 digits and without the ``c`` (character) and ``n`` (locale)
types; attribute and index access and conversions (``!r``) do not. ``{{`` and ``}}`` are
literal braces.
"""
from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Iterable, Mapping

RUN_PLACEHOLDERS = ("run_id", "study_name", "study_id", "hypothesis_id", "condition_id",
                    "sub_experiment", "scenario", "seed")
EVAL_PLACEHOLDERS = RUN_PLACEHOLDERS + ("run_dir", "output_path", "python")

_FORMATTER = string.Formatter()
# [[fill]align][sign][z][#][0][width][grouping][.precision][type]; widths stay small (a huge
# width would allocate that many characters per run), no 'c' (an int becomes a character)
# and no 'n' (locale-dependent: not the same path on every machine)
_SPEC_RE = re.compile(r"(?:[^{}]?[<>=^])?[-+ ]?z?#?0?(?P<width>\d{0,3})[,_]?"
                      r"(?:\.(?P<precision>\d{1,3}))?[sdbxXoeEfFgG%]?\Z", re.DOTALL)


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
        if spec and not _SPEC_RE.match(spec):
            raise TemplateError(f"format spec ':{spec}' of '{{{name}}}' is not allowed in "
                                f"{template!r} (width and precision of at most 3 digits, type "
                                f"one of s d b x X o e E f F g G %)")
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
    except (KeyError, ValueError, TypeError, OverflowError, IndexError,
            AttributeError) as exc:
        raise TemplateError(f"cannot render {template!r}: {exc}") from None
