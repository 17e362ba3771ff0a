"""One vocabulary for a run's state, and a typed view of a run's record.

A record (``generated/records/<run_id>.json``) stays a JSON object on disk and a dict in
memory (other tools read and write the same shape); :class:`Record` is the typed door to
the fields the orchestrator decides with, and :class:`Status` the one set of names.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Mapping


class Status(str, Enum):
    """What a run's record (or its absence) says. ``str``-valued: records hold the value."""

    SUCCESS = "success"
    REUSED = "reused"       # an earlier run adopted without launching anything
    FAILED = "failed"
    TIMEOUT = "timeout"
    RUNNING = "running"     # started, not finished (or its process died unrecorded)
    PENDING = "pending"     # no record yet (never written to a record)
    STALE = "stale"         # complete, but under an older plan (derived, never written)

    @property
    def is_complete(self) -> bool:
        return self in COMPLETE

    @property
    def is_final(self) -> bool:
        """Written by a finished attempt: the run will not change without a new attempt."""
        return self in FINAL

    @classmethod
    def of(cls, value: Any) -> "Status":
        """The status a record's ``status`` value names; unknown values read as failed."""
        if value is None:
            return cls.PENDING
        try:
            return cls(value)
        except ValueError:
            return cls.FAILED

    def __str__(self) -> str:
        return self.value


COMPLETE = frozenset({Status.SUCCESS, Status.REUSED})
FINAL = frozenset({Status.SUCCESS, Status.REUSED, Status.FAILED, Status.TIMEOUT})
#: the values a record's ``status`` holds when complete (for tests on raw record values:
#: a ``str`` Enum member hashes by its name, so ``"success" in COMPLETE`` would be False)
COMPLETE_VALUES = frozenset(s.value for s in COMPLETE)
#: the order ``status`` prints its columns in
DISPLAY_ORDER = (Status.SUCCESS, Status.REUSED, Status.FAILED, Status.TIMEOUT, Status.RUNNING,
                 Status.STALE, Status.PENDING)


def is_complete(record: Mapping[str, Any] | None) -> bool:
    """The record says the run is done (success, or reused): nothing to run again."""
    return record is not None and Status.of(record.get("status")) in COMPLETE


class Record:
    """A read-only, typed view of one record dict (the dict is not copied)."""

    __slots__ = ("data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    @property
    def run_id(self) -> str:
        return str(self.data.get("run_id"))

    @property
    def status(self) -> Status:
        return Status.of(self.data.get("status"))

    @property
    def session(self) -> str | None:
        return self.data.get("session")

    @property
    def fingerprint(self) -> str | None:
        return self.data.get("fingerprint")

    @property
    def error(self) -> str | None:
        return self.data.get("error")

    @property
    def log_path(self) -> str | None:
        return self.data.get("log_path")

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self.data.get("warnings") or []]

    @property
    def is_complete(self) -> bool:
        return self.status in COMPLETE

    def finished_in(self, session: str) -> bool:
        """A final record written by an attempt of ``session``."""
        return self.session == session and self.status is not Status.RUNNING

    def state_against(self, fingerprint: str) -> Status:
        """The status, with a complete run of another plan counted as stale."""
        status = self.status
        if status in COMPLETE and self.fingerprint != fingerprint:
            return Status.STALE
        return status
