"""Integer codes for categorical values, so counting runs in numpy instead of Python dicts."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import count
from typing import Any

import numpy as np
import numpy.ma  # noqa: F401 - np.unique loads it on first use (numpy 2.4): pay that at import, not mid-evaluation


def _same(value: object) -> object:
    return value


def renumber(raw: np.ndarray, seen: list, normalize: Callable[[object], object] = _same,
             sort_key: Callable[[Any], Any] | None = None,
             sort_key_factory: Callable[[list], Callable[[object], object]] | None = None) -> tuple[np.ndarray, list]:
    """``(codes, uniques)`` from first-seen codes ``raw`` into ``seen``, with
    ``uniques[codes[i]] == normalize(seen[raw[i]])`` and uniques sorted by ``sort_key`` (or by the
    key ``sort_key_factory`` builds from the normalized values in first-seen order)."""
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
              sort_key: Callable[[Any], Any] | None = None,
              sort_key_factory: Callable[[list], Callable[[object], object]] | None = None) -> tuple[np.ndarray, list]:
    """``renumber`` for ``size`` hashable values coded here in one go."""
    table: defaultdict[object, int] = defaultdict(count().__next__)
    raw = np.fromiter(map(table.__getitem__, values), dtype=np.int64, count=size)
    return renumber(raw, list(table), normalize, sort_key, sort_key_factory)


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
