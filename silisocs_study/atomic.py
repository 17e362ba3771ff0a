"""Atomic file writes: a reader sees the old file or the new one, never half of one.

A write that the disk refuses (full, quota, read-only, a folder removed meanwhile) raises
:class:`~silisocs_study.errors.StorageError` naming what was being written; the temp file is
removed and the previous file is untouched.

Links: a write never goes *through* a symlink. The final rename replaces a link standing at
the target with a regular file (its target is untouched; a warning names it); a folder on the
way that is a link inside the study (``below``) is refused, see :func:`refuse_links`.
"""
from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

from .errors import StorageError, is_storage_errno, note_written, storage_error

R = TypeVar("R")

LINK_HINT = ("silisocs-study never writes through a link inside the study: replace the link "
             "with a regular file or folder (or remove it)")


def current_umask() -> int:
    """The process umask (reading it means setting it: set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def storage_failure(exc: OSError, path: Path | str, what: str, *, missing: bool = True,
                    shape: bool = False) -> BaseException:
    """The exception to raise for ``exc`` while writing ``what`` at ``path``: a StorageError
    for the user's kind of failure (``missing``: a folder that vanished counts; ``shape``:
    something else standing where a folder or the file must be counts), else ``exc``."""
    if isinstance(exc, StorageError):
        return exc
    if is_storage_errno(exc, missing=missing):
        return storage_error(exc, path, what)
    if shape and exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        where = getattr(exc, "filename", None) or path
        return StorageError(where, what, "a folder stands where the file must be"
                            if exc.errno == errno.EISDIR else "something that is not a "
                            "folder stands where a folder must be", errno=exc.errno,
                            hint="move it away")
    return exc


def make_dirs(directory: Path | str, what: str) -> None:
    """``mkdir -p`` with the user's kind of failure as a StorageError."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise storage_failure(exc, directory, what, shape=True) from None


def refuse_links(target: Path | str, below: Path | str | None, what: str, *,
                 final: bool = False) -> None:
    """Refuse to write ``target`` when a folder between ``below`` (excluded: the study's
    ``generated/`` may itself be a link to scratch space) and ``target`` is a symlink, or
    (``final``) when ``target`` itself is one."""
    target = Path(target)
    parts: list[Path] = []
    if below is not None:
        try:
            rel = target.relative_to(below)
        except ValueError:
            rel = None
        if rel is not None:
            cur = Path(below)
            for name in rel.parts[:-1]:
                cur = cur / name
                parts.append(cur)
    if final:
        parts.append(target)
    for part in parts:
        if os.path.islink(part):
            raise link_refused(part, what)


def link_refused(link: Path | str, what: str) -> StorageError:
    try:
        dest = os.readlink(link)
    except OSError:
        dest = "?"
    return StorageError(link, what, f"it is a symlink (to {dest})", errno=errno.ELOOP,
                        hint=LINK_HINT)


def note_replaced_link(target: Path | str, what: str) -> None:
    """Say so when the file about to be replaced by a rename is a symlink."""
    try:
        dest = os.readlink(target)
    except OSError:   # not a link (or not there): the usual case
        return
    print(f"warning: {target} was a symlink (to {dest}); {what} replaces the link with a "
          f"regular file (the link's target is untouched)", file=sys.stderr)


def write_fully(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_replace(target: Path | str, fill: Callable[[int], R], *, mode: int | None = None,
                   what: str | None = None, below: Path | str | None = None) -> R:
    """Replace ``target`` atomically: ``fill(fd)`` writes a temp file in the same directory
    (and returns what the caller wants to know of it), which gets its mode, is fsynced and
    renamed over ``target`` (a symlink there is replaced, never followed). Returns what
    ``fill`` returned.

    ``what`` names the file in a StorageError (default: its name); ``below``: the folder
    under which no folder on the way may be a symlink (see :func:`refuse_links`)."""
    target = Path(target)
    what = what or target.name
    if below is not None:
        refuse_links(target, below, what)
    make_dirs(target.parent, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise storage_failure(exc, target, what, shape=True) from None
    try:
        try:
            result = fill(fd)
            # mkstemp creates 0600; give the file the mode a plain open() would (umask applies)
            os.fchmod(fd, mode if mode is not None else 0o666 & ~current_umask())
            os.fsync(fd)
        finally:
            os.close(fd)
        note_replaced_link(target, what)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise storage_failure(exc, target, what, shape=True) from None
        raise
    note_written()
    return result


def atomic_write_bytes(target: Path | str, data: bytes, *, mode: int | None = None,
                       what: str | None = None, below: Path | str | None = None) -> None:
    """``data`` at ``target``, replaced atomically (see :func:`atomic_replace`)."""
    atomic_replace(target, lambda fd: write_fully(fd, data), mode=mode, what=what, below=below)


def atomic_write_text(target: Path | str, text: str, *, mode: int | None = None,
                      what: str | None = None, below: Path | str | None = None) -> None:
    atomic_write_bytes(target, text.encode("utf-8"), mode=mode, what=what, below=below)


def atomic_write_json(target: Path | str, obj: Any, *, indent: int | None = 2,
                      what: str | None = None, below: Path | str | None = None) -> None:
    atomic_write_text(target, json.dumps(obj, indent=indent, ensure_ascii=False,
                                         default=str) + "\n", what=what, below=below)
