"""Integer codes for categorical values, so counting runs in numpy instead of Python dicts."""
from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import count
from operator import itemgetter

import numpy as np

from .reader import hashable


def _same(value: object) -> object:
    return value


def _field(row: dict, key: str, inner: str | None) -> object:
    value = row.get(key)
    if inner is None:
        return value
    return value.get(inner) if isinstance(value, dict) else None


class Coder:
    """Streams values into integer codes (hashing in C), then renumbers them in a chosen order."""

    def __init__(self) -> None:
        self.table: defaultdict[object, int] = defaultdict(count().__next__)
        self.parts: list[array] = []

    def add(self, values: Sequence[object], clean: Callable[[object], object] = hashable) -> None:
        """Code a batch; ``clean`` makes unhashable values (JSON lists/objects) hashable."""
        try:
            self.parts.append(array("q", map(self.table.__getitem__, values)))
        except TypeError:
            self.parts.append(array("q", map(self.table.__getitem__, map(clean, values))))

    def add_rows(self, rows: list[dict], key: str, inner: str | None = None,
                 clean: Callable[[object], object] = hashable) -> None:
        """Code ``row[key]`` (or ``row[key][inner]``) for a batch of row dicts, fused in C; rows
        missing the field (→ ``None``) or holding unhashable values take a Python detour."""
        get = itemgetter(key)
        try:
            values = map(get, rows) if inner is None else map(itemgetter(inner), map(get, rows))
            self.parts.append(array("q", map(self.table.__getitem__, values)))
        except (KeyError, TypeError, AttributeError):
            self.parts.append(array("q", map(self.table.__getitem__, (clean(_field(r, key, inner)) for r in rows))))

    def add_constant(self, value: object, n: int) -> None:
        self.parts.append(array("q", [self.table[value]]) * n)

    def finish(self, normalize: Callable[[object], object] = _same,
               sort_key: Callable[[object], object] | None = None,
               sort_key_factory: Callable[[list], Callable[[object], object]] | None = None) -> tuple[np.ndarray, list]:
        """``(codes, uniques)`` with ``uniques[codes[i]] == normalize(value i)``, uniques sorted by ``sort_key``
        (or by the key ``sort_key_factory`` builds from the values in first-seen order)."""
        raw = np.concatenate([np.frombuffer(p, dtype=np.int64) for p in self.parts if len(p)] or
                             [np.zeros(0, dtype=np.int64)])
        seen = list(self.table)
        if sort_key_factory is not None:
            sort_key = sort_key_factory([normalize(v) for v in seen])
        return _renumber(raw, seen, normalize, sort_key)


def _renumber(raw: np.ndarray, raw_uniques: list, normalize, sort_key) -> tuple[np.ndarray, list]:
    if normalize is _same and sort_key is None:
        return raw, raw_uniques  # codes are already first-seen order
    normalized = [normalize(v) for v in raw_uniques]
    uniques = sorted(set(normalized), key=sort_key) if sort_key else list(dict.fromkeys(normalized))
    position = {u: i for i, u in enumerate(uniques)}
    remap = np.fromiter((position[v] for v in normalized), dtype=np.int64, count=len(normalized))
    return (remap[raw] if len(raw) else raw), uniques


def factorize(values: Iterable[object], size: int, normalize: Callable[[object], object] = _same,
              sort_key: Callable[[object], object] | None = None,
              sort_key_factory: Callable[[list], Callable[[object], object]] | None = None) -> tuple[np.ndarray, list]:
    """One-shot ``Coder``: ``(ids, uniques)`` for ``size`` hashable values."""
    table: defaultdict[object, int] = defaultdict(count().__next__)
    raw = np.fromiter(map(table.__getitem__, values), dtype=np.int64, count=size)
    seen = list(table)
    if sort_key_factory is not None:
        sort_key = sort_key_factory([normalize(v) for v in seen])
    return _renumber(raw, seen, normalize, sort_key)


def group_bounds(sorted_groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an ascending array: ``(group values, start index, stop index)`` of each run of equal values."""
    if len(sorted_groups) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    stops = np.r_[starts[1:], len(sorted_groups)]
    return sorted_groups[starts], starts, stops


def weighted_unique(keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` (ascending) and the summed ``weights`` (default 1 each) of each."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=weights, minlength=len(uniq))
    return uniq, np.rint(sums).astype(np.int64)


def names(ids: Sequence[int] | np.ndarray, uniques: Sequence) -> list:
    """Map ids back to their values."""
    return [uniques[i] for i in (ids.tolist() if isinstance(ids, np.ndarray) else ids)]
