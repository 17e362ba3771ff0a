"""Several fields of each row coded at once (one code table per column), for ``segments``.

Probe rows need six columns (type, label, agent, episode, answer, mode) rather than one key
tuple: answers are mostly distinct free text, so a per-row tuple would make every key unique.
Action rows need one key tuple plus their ``event_index`` as a plain number (``IntColumn``: a
*raw* column, stored as is instead of coded, since nearly every row has its own).
Numpy-free, so worker processes that unpickle a ``Columns`` spec start fast.
"""
from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

from .reader import BlockParser, Fields, ReadStats, hashable
from .segments import BufferCoder


def _row(row: dict) -> dict:
    return row


def _ints(values: Iterable[int]) -> array:
    """An int64 array of ``values``: a list first, then ``fromlist`` (faster than growing the array)."""
    out = array("q")
    out.fromlist(list(values))
    return out


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
            return _ints(map(table.__getitem__, values))
        except (KeyError, TypeError, AttributeError):
            return _ints(map(table.__getitem__, map(self.value, rows)))


@dataclass(frozen=True)
class KeyPresent(Column):
    """1 if ``row[key]`` is an object holding ``inner`` (even as null), else 0."""

    def value(self, row: dict) -> object:
        node = row.get(self.key)
        return int(isinstance(node, dict) and self.inner in node)

    def codes(self, rows: list[dict], table: dict) -> Iterable[int]:
        try:  # dict.__contains__ refuses anything but a dict: odd rows take the detour
            return _ints(map(table.__getitem__, map(int, map(dict.__contains__, map(itemgetter(self.key), rows),
                                                              repeat(self.inner)))))
        except (KeyError, TypeError):
            return _ints(map(table.__getitem__, map(self.value, rows)))


@dataclass(frozen=True)
class TupleColumn:
    """The tuple of several top-level fields as one coded value (missing → None, odd values hashable)."""

    names: tuple[str, ...]

    def codes(self, rows: list[dict], table: dict) -> Iterable[int]:
        try:
            return _ints(map(table.__getitem__, map(itemgetter(*self.names), rows)))
        except (KeyError, TypeError):
            return _ints(map(table.__getitem__, map(Fields(*self.names).fallback, rows)))


@dataclass(frozen=True)
class IntColumn:
    """A raw column: ``int(row[key])`` stored as is (``default`` when missing or not a whole number)."""

    key: str
    default: int = -1

    def value(self, row: dict) -> int:
        try:
            number = int(row.get(self.key))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return self.default
        return number if -(2**63) <= number < 2**63 else self.default

    def codes(self, rows: list[dict], table: dict) -> Iterable[int]:
        try:
            return _ints(map(itemgetter(self.key), rows))
        except (KeyError, TypeError, OverflowError):
            return _ints(map(self.value, rows))


@dataclass(frozen=True)
class Columns:
    """A ``segments.RowSpec`` coding each row into one code per column (raw columns: the value)."""

    columns: tuple[Column | KeyPresent | TupleColumn | IntColumn, ...]

    @property
    def width(self) -> int:
        return len(self.columns)

    @property
    def raw_columns(self) -> frozenset[int]:
        return frozenset(i for i, c in enumerate(self.columns) if isinstance(c, IntColumn))

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
