"""Typed, located access to YAML mappings: every failed check names its path and line."""
from __future__ import annotations

import builtins
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, overload

from .. import numeric
from ..errors import StudyError, did_you_mean
from .yamlload import Document, Path_

# '=' is allowed: real silisocs studies name conditions `cta=reactive`, `model=gpt-4o-mini`
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]*\Z")
# what `python -m` takes: dotted identifiers (no '/', spaces, NUL, empty parts)
MODULE_RE = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*\Z")
_MISSING = object()


def describe(value: Any) -> str:
    """How a bad value is shown in an error: repr for scalars, the type for containers."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Section:
    """One YAML mapping at a known path of a Document."""

    def __init__(self, doc: Document, path: Path_, data: dict) -> None:
        self.doc = doc
        self.path = path
        self.data = data

    @classmethod
    def of(cls, doc: Document, path: Path_, value: Any, what: str = "a mapping") -> "Section":
        if not isinstance(value, dict):
            raise doc.error(path, f"expected {what}, got {describe(value)}")
        return cls(doc, path, value)

    # -- structure --------------------------------------------------------------------------
    def error(self, key: str | None, message: str, *, at_key: bool = False) -> StudyError:
        path = self.path + (key,) if key is not None else self.path
        return self.doc.error(path, message, at_key=at_key)

    def check_keys(self, allowed: Iterable[str], *, extra_ok=None, hint: str = "") -> None:
        """Reject keys outside ``allowed`` (unless ``extra_ok(key)``), suggesting a near match."""
        allowed = list(allowed)
        for key in self.data:
            if key in allowed or (extra_ok is not None and extra_ok(key)):
                continue
            raise self.error(key, f"unknown key '{key}'{did_you_mean(key, allowed)}{hint}",
                             at_key=True)

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    @overload
    def section(self, key: str, *, required: Literal[True]) -> "Section": ...
    @overload
    def section(self, key: str, *, required: bool = False) -> "Section | None": ...

    def section(self, key: str, *, required: bool = False) -> "Section | None":
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise self.error(None, f"missing required key '{key}'")
            return None
        return Section.of(self.doc, self.path + (key,), value)

    # -- scalars ----------------------------------------------------------------------------
    def str(self, key: str, default: Any = None, *, required: bool = False,
            nonempty: bool = True) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise self.error(None, f"missing required key '{key}'")
            return default
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {describe(value)}")
        if nonempty and not value.strip():
            raise self.error(key, "must be a non-empty string")
        return value

    def id(self, key: builtins.str, default: Any = None, *,
           required: builtins.bool = False) -> Any:
        value = self.str(key, default, required=required)
        if value is not None and value is not default:
            check_id(self.doc, self.path + (key,), value)
        return value

    def int(self, key: builtins.str, default: Any = None, *,
            minimum: builtins.int | None = None) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {describe(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def count(self, key: builtins.str, default: Any = None, *, minimum: builtins.int = 1) -> Any:
        """An integer from ``minimum`` (1, or 0 where 0 means none) to numeric.MAX_COUNT."""
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        problem = numeric.count_problem(value, minimum=minimum)
        if problem:
            raise self.error(key, problem)
        return value

    def seconds(self, key: builtins.str) -> float | None:
        """A duration: a finite number of seconds above 0 (nan, inf, 0 and -1 are refused)."""
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return None
        problem = numeric.number_problem(value, maximum=numeric.MAX_SECONDS,
                                         what="a positive number of seconds")
        if problem:
            raise self.error(key, problem)
        return float(value)

    def module(self, key: builtins.str, default: Any = None) -> Any:
        """A Python module name for ``python -m`` (dotted identifiers)."""
        value = self.str(key, default)
        if value is not None and value is not default and not MODULE_RE.match(value):
            raise self.error(key, f"invalid module name {describe(value)}: expected a dotted "
                                  f"Python module name like 'examples.socialsim'")
        return value

    def repo_path(self, key: builtins.str, repo_root: Path) -> Path | None:
        """A file path setting: relative to the repo root, which it may not climb out of
        with '..' (an absolute or ~ path may point anywhere)."""
        value = self.str(key)
        if value is None:
            return None
        path = os.path.expanduser(value)
        if not os.path.isabs(path):
            norm = os.path.normpath(path)
            if norm == ".." or norm.startswith("../"):
                raise self.error(key, f"'{value}' climbs out of the repo root (use an "
                                      f"absolute path to write outside it)")
            if norm == ".":
                raise self.error(key, f"'{value}' names the repo root itself: expected a file")
            return repo_root / norm
        return Path(os.path.normpath(path))

    def bool(self, key: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {describe(value)}")
        return value

    def choice(self, key: builtins.str, choices: tuple[builtins.str, ...],
               default: builtins.str) -> builtins.str:
        value = self.str(key, default)
        if value not in choices:
            options = " | ".join(choices)
            raise self.error(key, f"expected one of {options}, got {describe(value)}"
                             f"{did_you_mean(str(value), choices)}")
        return value

    # -- lists ------------------------------------------------------------------------------
    def int_list(self, key: builtins.str, default: Any = None, *,
                 unique: builtins.bool = True) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of integers, got {describe(value)}")
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int):
                raise self.doc.error(self.path + (key, i),
                                     f"expected an integer, got {describe(v)}")
        if not value:
            raise self.error(key, "must not be empty")
        if unique:
            seen: set[int] = set()
            for i, v in enumerate(value):
                if v in seen:
                    raise self.doc.error(self.path + (key, i), f"duplicate value {v}")
                seen.add(v)
        return value

    def str_list(self, key: builtins.str, default: Any = None, *, ids: builtins.bool = False,
                 allow_scalar: builtins.bool = False) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if allow_scalar and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
            raise self.error(key, f"expected a list of strings, got {describe(value)}")
        seen: set[str] = set()
        for i, v in enumerate(value):
            if ids:
                check_id(self.doc, self.path + (key, i), v)
            if v in seen:
                raise self.doc.error(self.path + (key, i), f"duplicate value '{v}'")
            seen.add(v)
        return value

    def command(self, key: builtins.str) -> Any:
        """A command given as a string (shell-split) or a list of strings."""
        import shlex

        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise self.error(key, f"cannot split command: {exc}") from None
        elif isinstance(value, list) and all(isinstance(v, (str, int, float)) and
                                             not isinstance(v, bool) for v in value):
            argv = [str(v) for v in value]
        else:
            raise self.error(key, f"expected a command string or a list of strings, "
                                  f"got {describe(value)}")
        if not argv:
            raise self.error(key, "must be a non-empty command")
        return tuple(argv)

    def mapping(self, key: builtins.str) -> dict:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {describe(value)}")
        return value


def per_hypothesis(block: "Section", known: Iterable[str], keys: Iterable[str]
                   ) -> Iterator[tuple[str, "Section"]]:
    """The ``hypotheses:`` entries of a block (analysis:, adaptive:): each id one of the
    study's hypotheses, each entry a mapping of ``keys`` — else a one-line error at its line."""
    hyps = block.section("hypotheses")
    if hyps is None:
        return
    known = list(known)
    for hyp, value in hyps.data.items():
        if hyp not in known:
            raise hyps.error(hyp, f"unknown hypothesis '{hyp}'"
                                  f"{did_you_mean(str(hyp), known)}; the study's "
                                  f"hypotheses are {', '.join(known)}", at_key=True)
        one = Section.of(block.doc, hyps.path + (hyp,), value or {}, "a mapping")
        one.check_keys(keys)
        yield str(hyp), one


def probe_path(doc: Document, path: Path_, target: Path) -> tuple[Path, bool]:
    """(resolved path, whether it exists) for a file a setting names; a name the OS refuses
    (too long, a symlink loop) is an error at ``path``, not a traceback."""
    try:
        resolved = target.resolve()
        return resolved, resolved.exists()
    except (OSError, RuntimeError) as exc:   # RuntimeError: symlink loop (Python < 3.13)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise doc.error(path, f"cannot use this path: {reason}") from None


def check_value(doc: Document, path: Path_, value: Any) -> None:
    """An override or axis value must reach Hydra and the JSON records exactly."""
    problem = numeric.uncarried(value)
    if problem:
        raise doc.error(path, f"cannot pass this value to Hydra exactly: {problem}")


def check_id(doc: Document, path: Path_, value: Any, what: str = "id", *,
             at_key: bool = False) -> None:
    """Ids become path components and run-id parts: a strict charset and no '__'."""
    if not isinstance(value, str):
        raise doc.error(path, f"{what} must be a string, got {describe(value)}", at_key=at_key)
    if not ID_RE.match(value):
        raise doc.error(path, f"invalid {what} '{value}': use letters, digits, '.', '_', '-', "
                              f"'=' and start with a letter or digit", at_key=at_key)
    if "__" in value:
        raise doc.error(path, f"invalid {what} '{value}': must not contain '__'", at_key=at_key)
