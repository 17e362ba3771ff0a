"""Turn study-file override mappings into Hydra command-line override strings.

A study gives overrides as YAML mappings at three levels (run defaults ->
hypothesis -> condition).  The planner merges them with :func:`merge_levels`
and renders each entry with :func:`format_override` so that Hydra's own
override parser, and OmegaConf after it, give back exactly the value (and
type) written in the study file.

This module deliberately imports neither Hydra nor OmegaConf: the planner
must start in milliseconds, and encoding is on the hot path of plans with
tens of thousands of runs.  The encoding rules mirror Hydra 1.3's grammar
(``hydra/grammar/OverrideLexer.g4`` / ``OverrideParser.g4``) and the escaping
of OmegaConf's interpolation grammar; ``tests/test_overrides.py`` checks them
against the real parsers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "encode_value",
    "format_override",
    "format_overrides",
    "merge_levels",
    "split_key",
]

# --- keys -----------------------------------------------------------------
# Hydra's key grammar: ``key: packageOrGroup ('@' package)?`` where
# ``package`` is empty, an ID/KEY_SPECIAL, or a DOT_PATH of such parts and
# unsigned ints, and ``packageOrGroup`` is a package or ``ID ('/' ID)+``.
_ID = r"[A-Za-z_][A-Za-z0-9_-]*"
_KEY_SPECIAL = r"[A-Za-z_$][A-Za-z0-9_$-]*"
_INT_UNSIGNED = r"(?:0|[1-9](?:_?[0-9])*)"
_PART = rf"(?:{_KEY_SPECIAL}|{_INT_UNSIGNED})"
_PACKAGE = rf"(?:{_KEY_SPECIAL}|{_PART}(?:\.{_PART})+)"
_GROUP = rf"{_ID}(?:/{_ID})+"
_KEY_RE = re.compile(rf"(?:{_GROUP}|{_PACKAGE})(?:@{_PACKAGE}?)?")
_WS_RE = re.compile(r"\s")

# --- values ---------------------------------------------------------------
# Strings Hydra reads back unquoted as the very same string: an ID, '/' or
# '.' joined pieces.  Single tokens that are keywords (bool/null/inf/nan) are
# excluded separately; nothing here can start an int/float/interpolation.
_PLAIN_STR_RE = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
_KEYWORDS = frozenset({"true", "false", "null", "inf", "nan"})

# Inside a quoted value Hydra un-escapes only backslashes that precede a
# quote (odd run, mid-string) or the closing quote (even run); every other
# backslash is literal.  So: n backslashes + quote -> 2n+1 backslashes +
# quote, and n trailing backslashes -> 2n.
_QUOTE_ESC_RE = re.compile(r"(\\*)('|\Z)")

# OmegaConf resolves "${" anywhere in a string; a literal "${" preceded by n
# backslashes is written as 2n+1 backslashes + "${" (its ESC_INTER rule).
_INTERP_ESC_RE = re.compile(r"(\\*)\$\{")

# Dict keys cannot be quoted.  They are unquoted tokens: these characters
# must be backslash-escaped (Hydra's ESC rule) ...
_KEY_ESC_RE = re.compile(r"([\\()\[\]{}:=, \t])")
# ... and after escaping only these characters may remain.
_DICT_KEY_CHARS_RE = re.compile(r"(?:[A-Za-z0-9_/\-+.$%*@?|]|\\[\\()\[\]{}:=, \t])+")
# A key that is one INT/FLOAT/BOOL/NULL token would come back as that type.
_DIGITS = r"[0-9](?:_?[0-9])*"
_POINT_FLOAT = rf"(?:{_INT_UNSIGNED}\.|{_INT_UNSIGNED}?\.{_DIGITS})"
_SCALAR_TOKEN_RE = re.compile(
    rf"[+-]?(?:{_INT_UNSIGNED}|{_POINT_FLOAT}"
    rf"|(?:{_INT_UNSIGNED}|{_POINT_FLOAT})[eE][+-]?{_DIGITS}"
    r"|[Ii][Nn][Ff]|[Nn][Aa][Nn])"
    r"|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Nn][Uu][Ll][Ll]"
)


def split_key(key: str) -> tuple[str, str]:
    """Split an override key into ``(prefix, bare_key)``.

    ``prefix`` is ``""``, ``"+"`` (add), ``"++"`` (force add) or ``"~"``
    (delete).  Malformed keys raise ``ValueError`` here, at plan time, rather
    than failing thousands of jobs later in Hydra's parser.
    """
    if not isinstance(key, str):
        raise TypeError(f"override key must be a str, got {type(key).__name__}: {key!r}")
    if not key:
        raise ValueError("override key is empty")
    if _WS_RE.search(key):
        raise ValueError(f"override key {key!r} contains whitespace")
    if "=" in key:
        raise ValueError(f"override key {key!r} contains '='; give the value separately")
    if key.startswith("+++"):
        raise ValueError(f"override key {key!r} has more than two leading '+'")
    if key.startswith("++"):
        prefix = "++"
    elif key[0] in "+~":
        prefix = key[0]
    else:
        prefix = ""
    bare = key[len(prefix) :]
    if not bare:
        raise ValueError(f"override key {key!r} has no name after its prefix")
    if bare[0] in "+~":
        raise ValueError(f"override key {key!r} mixes '~' and '+' prefixes")
    if bare[0] == "@":
        raise ValueError(f"override key {key!r} has no name before '@'")
    if _KEY_RE.fullmatch(bare) is None:
        raise ValueError(
            f"override key {key!r} is not a valid Hydra key (expected a dotted path "
            "like 'env.gm.num_agents', a group like 'hydra/launcher', optionally "
            "'@package'; ASCII letters, digits, '_', '-', '$' only)"
        )
    return prefix, bare


def merge_levels(levels: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge override levels; later levels win.

    ``x``, ``+x``, ``++x`` and ``~x`` name the same config key, so a later
    level replaces the earlier entry wholesale, prefix included (the winning
    level knows whether the key must be added, forced or deleted).  Order is
    that of each bare key's first appearance, so command lines stay stable
    across conditions.  Values are not deep-merged: a dict value is a single
    override and replaces the earlier one.
    """
    merged: dict[str, tuple[str, Any]] = {}  # bare -> (full key, value)
    for level in levels:
        seen: dict[str, str] = {}
        for key, value in level.items():
            prefix, bare = split_key(key)
            other = seen.get(bare)
            if other is not None:
                raise ValueError(
                    f"override keys {other!r} and {key!r} in the same level name the same key"
                )
            seen[bare] = key
            merged[bare] = (key, value)
    return {key: value for key, value in merged.values()}


def _quote(text: str) -> str:
    """Single-quote ``text`` so Hydra's quoted-string un-escaping restores it."""
    if "\\" in text or "'" in text:
        text = _QUOTE_ESC_RE.sub(lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), text)
    return f"'{text}'"


def _encode_str(value: str) -> str:
    if _PLAIN_STR_RE.fullmatch(value) and value.lower() not in _KEYWORDS:
        return value
    if "${" in value:
        # Keep it a literal: Hydra passes "\${" through, OmegaConf un-escapes it.
        value = _INTERP_ESC_RE.sub(lambda m: m.group(1) * 2 + "\\${", value)
    return _quote(value)


def _encode_float(value: float) -> str:
    if math.isfinite(value):
        # float.__repr__ is the shortest exact form ('1e+300', '-0.0', '5e-324'),
        # all valid Hydra FLOAT tokens; it also ignores subclasses' __repr__.
        return float.__repr__(value)
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _encode_dict_key(key: Any) -> str:
    """Encode a dict key; Hydra's dictKey rule forbids quoting, so some are rejected."""
    if isinstance(key, str):
        escaped = _KEY_ESC_RE.sub(r"\\\1", key)
        if not _DICT_KEY_CHARS_RE.fullmatch(escaped):
            raise ValueError(
                f"cannot encode dict key {key!r}: Hydra dict keys cannot be quoted and "
                "allow only ASCII letters, digits and _-+./$%*@?| (plus escapable "
                "\\()[]{}:=, space and tab), and must not be empty"
            )
        if _SCALAR_TOKEN_RE.fullmatch(key):
            raise ValueError(
                f"cannot encode dict key {key!r} as a string: Hydra would read it back "
                "as a number, bool or null"
            )
        return escaped
    if key is None:
        raise ValueError("cannot encode dict key None: OmegaConf rejects None keys")
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return _encode_float(key)
    raise TypeError(f"cannot encode dict key of type {type(key).__name__}: {key!r}")


def encode_value(value: Any) -> str:
    """Render ``value`` in Hydra override syntax, preserving value and type.

    Plain identifiers stay unquoted (readable command lines); any other
    string is single-quoted, with ``${`` escaped so it stays a literal
    rather than becoming an interpolation.  Tuples encode as lists.
    Raises ``TypeError`` for unsupported types and ``ValueError`` for dict
    keys Hydra's grammar cannot express.
    """
    if isinstance(value, str):
        return _encode_str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([encode_value(v) for v in value]) + "]"
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join([f"{_encode_dict_key(k)}:{encode_value(v)}" for k, v in value.items()])
            + "}"
        )
    raise TypeError(f"cannot encode value of type {type(value).__name__}: {value!r}")


def format_override(key: str, value: Any) -> str:
    """Build one ``key=value`` override; ``~key`` with value None is a plain deletion."""
    prefix, _ = split_key(key)
    if prefix == "~" and value is None:
        return key
    return f"{key}={encode_value(value)}"


def format_overrides(mapping: Mapping[str, Any]) -> list[str]:
    """Format every entry of a (merged) override mapping, keeping its order."""
    return [format_override(key, value) for key, value in mapping.items()]
