"""User-facing errors: one line naming file, line, column and YAML path; exit code 2.

:class:`StorageError`: the disk, a quota or the file system refused a write (one line
naming what and where; exit 1 once something was written, else 2)."""
from __future__ import annotations

import errno as _errno
from typing import TypeGuard


class StudyError(Exception):
    """A mistake in the user's input (spec, flags, filters). Printed as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, path: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        super().__init__(self.format())

    def format(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


def did_you_mean(word: str, choices) -> str:
    """A ' (did you mean 'x'?)' suffix when a close match exists, else ''."""
    import difflib

    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


# -- storage errors -----------------------------------------------------------------------------
#
# A full disk, a quota, a read-only or vanished folder is not a bug: the user can fix it and
# run the same command again (records are written atomically, so every record written before
# the failure is intact, and a resume skips the runs they finished). Such errors end a verb
# with one line naming what was being written and where. Exit code 1 when this invocation had
# already written something (a record, a view, a job), else 2 (nothing started).

STORAGE_ERRNOS = frozenset(e for e in (
    _errno.ENOSPC, getattr(_errno, "EDQUOT", None), _errno.EROFS, _errno.EACCES,
    _errno.EPERM, _errno.EFBIG, _errno.EIO) if e is not None)

_REASONS = {_errno.ENOSPC: "no space left on the device",
            _errno.EROFS: "the file system is read-only",
            _errno.EACCES: "permission denied", _errno.EPERM: "operation not permitted",
            _errno.ENOENT: "its folder disappeared while we were writing",
            _errno.EFBIG: "file too large", _errno.EIO: "input/output error (a failing disk?)"}
if hasattr(_errno, "EDQUOT"):
    _REASONS[_errno.EDQUOT] = "disk quota exceeded"

_HINTS = {_errno.ENOSPC: "free some space", _errno.EROFS: "make it writable",
          _errno.EACCES: "make it writable", _errno.EPERM: "make it writable",
          _errno.ENOENT: "check nothing removes the study's folders",
          _errno.EFBIG: "free some space"}
if hasattr(_errno, "EDQUOT"):
    _HINTS[_errno.EDQUOT] = "free some space"

_WRITTEN = [False]


def note_written() -> None:
    """Something of this invocation reached the disk (a record, a view, a job file, a run):
    a later storage error exits 1 (partial work) instead of 2 (nothing started)."""
    _WRITTEN[0] = True


def wrote_anything() -> bool:
    return _WRITTEN[0]


class StorageError(StudyError, OSError):
    """Writing one of the study's files failed for a reason outside our code (disk full,
    quota, read-only, vanished folder, a symlink we refuse to write through).

    Also an ``OSError`` (with ``errno`` and ``filename``), so code that tolerates an
    unwritable optional file keeps doing so. Printed as one line by the CLI; its exit code
    is 1 once this invocation wrote anything (``note_written``), else 2."""

    def __init__(self, path, what: str, reason: str | None = None, *,
                 errno: int | None = None, hint: str | None = None,
                 exit_code: int | None = None) -> None:
        self.target = str(path)
        self.what = what
        self.reason = reason or _REASONS.get(errno or 0) or "cannot write"
        self.hint = hint if hint is not None else _HINTS.get(errno or 0, "")
        self._exit_code = exit_code
        self.message = self._text()
        self.file = self.line = self.column = None
        self.path = None
        OSError.__init__(self, errno or 0, self.reason, self.target)

    def _text(self) -> str:
        hint = f"; {self.hint} and run the same command again (records written so far are " \
               f"kept; finished runs are skipped)" if self.hint else ""
        where = f" ({self.target})" if self.target else ""
        return f"cannot write {self.what}{where}: {self.reason}{hint}"

    @property
    def exit_code(self) -> int:   # type: ignore[override]
        if self._exit_code is not None:
            return self._exit_code
        return 1 if wrote_anything() else 2

    def format(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):   # crosses process boundaries (joblib, submitit job returns)
        return (_rebuild_storage_error, (self.target, self.what, self.reason, self.errno,
                                         self.hint, self._exit_code))


def _rebuild_storage_error(path, what, reason, errno, hint, exit_code) -> StorageError:
    return StorageError(path, what, reason, errno=errno, hint=hint, exit_code=exit_code)


def is_storage_errno(exc: BaseException, *, missing: bool = False) -> TypeGuard[OSError]:
    """An OSError a user fixes on their side (``missing``: a vanished folder counts too)."""
    if not isinstance(exc, OSError) or isinstance(exc, StorageError):
        return False
    return exc.errno in STORAGE_ERRNOS or (missing and exc.errno == _errno.ENOENT)


def storage_error(exc: OSError, path, what: str) -> StorageError:
    """The StorageError for ``exc`` raised while writing ``what`` at ``path``."""
    if isinstance(exc, StorageError):
        return exc
    return StorageError(path if path is not None else (exc.filename or ""), what,
                        _REASONS.get(exc.errno or 0) or exc.strerror or str(exc),
                        errno=exc.errno)


def as_storage_error(exc: BaseException, what: str = "the study's files") -> StorageError | None:
    """Last resort (CLI, sweeper): a storage OSError nobody named becomes a StorageError."""
    if isinstance(exc, StorageError):
        return exc
    if not is_storage_errno(exc):
        return None
    return StorageError(exc.filename or "", what, _REASONS.get(exc.errno or 0)
                        or exc.strerror, errno=exc.errno)
