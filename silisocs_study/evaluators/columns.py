"""Several fields of each row coded at once (one code table per column), for ``segments``.

Probe rows need five columns (type, label, agent, episode, answer, mode) rather than one key
tuple: answers are mostly distinct free text, so a per-row tuple would make every key unique.
Numpy-free, so worker processes that unpickle a ``Columns`` spec start fast.
"""
from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter

from .reader import BlockParser, ReadStats, hashable
from .segments import BufferCoder


def _row(row: dict) -> dict:
    return row


@dataclass(frozen=True)
class Column:
    """``row[key]`` (or ``row[key][inner]``); ``clean`` makes odd values (lists, objects) hashable."""

    key: str
    inner: str | None = None
    clean: Callable[[object], object] = hashable

    def value(self, row: dict) -> object:
        value = row.get(self.key)
        if self.inner is not None:
            value = value.get(self.inner) if isinstance(value, dict) else None
        return self.clean(value)

    def codes(self, rows: list[dict], table: dict) -> Iterable[int]:
        """Codes for a batch, fused in C; rows missing the field or holding unhashable values
        (lists, objects) take a Python detour through ``value``."""
        get = itemgetter(self.key)
        try:
            values = map(get, rows) if self.inner is None else map(itemgetter(self.inner), map(get, rows))
            return array("q", map(table.__getitem__, values))
        except (KeyError, TypeError, AttributeError):
            return array("q", map(table.__getitem__, map(self.value, rows)))


@dataclass(frozen=True)
class Columns:
    """A ``segments.RowSpec`` coding each row into one code per column."""

    columns: tuple[Column, ...]

    @property
    def width(self) -> int:
        return len(self.columns)

    def coder(self, tables: list[dict], parts: list[array]) -> BufferCoder:
        parser = BlockParser(None, _row)
        jobs = list(zip(self.columns, tables, parts))

        def code(buf: bytes, bad: Callable[[int, str], None], stats: ReadStats) -> int:
            rows, n, n_lines = parser.parse(buf, bad)
            stats.lines += n
            stats.rows += len(rows)
            if rows:
                for column, table, part in jobs:
                    part.extend(column.codes(rows, table))
            return n_lines

        return code
