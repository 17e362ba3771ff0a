"""Shared pieces of every evaluator payload: header, metric-key slugs, summary statistics.

Statistics code downstream averages ``aggregated`` metrics across replicates, so keys here must be
stable and machine-friendly and values plain finite numbers.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"(\d+)")
CANONICAL_ACTION_LABELS = ("post", "reply", "like", "repost", "follow", "unfollow")
INTERACTIVE_LABELS = ("reply", "like", "repost")


def slugify(text: object, max_len: int = 60) -> str:
    """Lowercase ``[a-z0-9_]`` form of a label, for metric keys and file names."""
    raw = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("_", raw.lower()).strip("_")[:max_len].rstrip("_")
    return slug or "unnamed"


def natural_key(text: object) -> tuple:
    """Sort key putting ``agent_2`` before ``agent_10``."""
    return tuple(int(t) if t.isdigit() else t for t in _DIGITS.split(str(text)))


def episode_key(value: object) -> str:
    """JSON-object key for an episode (``None`` → ``"unknown"``)."""
    if value is None:
        return "unknown"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def episode_sort_key(value: object) -> tuple[int, float, str]:
    """Numeric episodes first in numeric order, then anything else by text."""
    if isinstance(value, bool):
        return (1, 0.0, str(value))
    if isinstance(value, (int, float)) and math.isfinite(value):
        return (0, float(value), "")
    if isinstance(value, str):
        try:
            num = float(value)
        except ValueError:
            return (1, 0.0, value)
        if math.isfinite(num):
            return (0, num, value)
    return (2, 0.0, str(value))


def first_seen_episode_key(first_seen: list[object]) -> Callable[[object], tuple[int, float, float]]:
    """Sort key: numeric episodes in numeric order, then named ones ("warmup", "main") as first seen."""
    rank: dict[object, int] = {}
    for i, value in enumerate(first_seen):
        rank.setdefault(value, i)

    def key(value: object) -> tuple[int, float, float]:
        kind, number, _ = episode_sort_key(value)
        return (kind, number, 0.0 if kind == 0 else float(rank.get(value, len(rank))))

    return key


def sorted_episodes(values: Iterable[object]) -> list[object]:
    """Distinct episodes in natural order."""
    return sorted(set(values), key=episode_sort_key)


def numeric_episode(value: object) -> float | None:
    """Episode as a number for plotting, or None."""
    key = episode_sort_key(value)
    return key[1] if key[0] == 0 else None


def ratio(num: float, den: float) -> float | None:
    """``num / den``, or None when undefined (so it is left out rather than faked as 0)."""
    return num / den if den else None


def weighted_stats(counts: Mapping[float, int]) -> dict[str, float | int | None]:
    """count/min/max/mean/median/stdev of values given as ``{value: multiplicity}``.

    Works on distinct values so a million identical ratings cost one multiply, not a million adds.
    ``stdev`` is the sample standard deviation (None below two values).
    """
    items = sorted((v, c) for v, c in counts.items() if c > 0)
    n = sum(c for _, c in items)
    if n == 0:
        return {"count": 0, "min": None, "max": None, "mean": None, "median": None, "stdev": None}
    mean = math.fsum(v * c for v, c in items) / n
    stdev = None
    if n > 1:
        var = math.fsum(c * (v - mean) ** 2 for v, c in items) / (n - 1)
        stdev = math.sqrt(var)
    median = weighted_median(items, n)
    return {
        "count": n,
        "min": _plain(items[0][0]),
        "max": _plain(items[-1][0]),
        "mean": mean,
        "median": _plain(median),
        "stdev": stdev,
    }


def weighted_median(items: list[tuple[float, int]], n: int) -> float:
    """Median of sorted ``(value, multiplicity)`` pairs holding ``n`` values in all."""
    lo_rank, hi_rank = (n - 1) // 2, n // 2
    lo = hi = None
    seen = 0
    for value, count in items:
        if lo is None and seen + count > lo_rank:
            lo = value
        if seen + count > hi_rank:
            hi = value
            break
        seen += count
    assert lo is not None and hi is not None
    return (lo + hi) / 2 if lo != hi else lo


def _plain(value: float) -> float | int:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


def finite_metrics(metrics: Mapping[str, object]) -> dict[str, float | int]:
    """Keep only finite real numbers (bools excluded) so ``aggregated`` is always statistics-ready."""
    out: dict[str, float | int] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        out[key] = value
    return out


def header(summary_type: str, mode: str, run_dir: Path, files: list, stats) -> dict[str, Any]:
    """The fields every payload starts with; ``files`` are ``reader.EventFile``s, ``stats`` a ``ReadStats``.

    ``run_dir`` (absolute) and ``source_file`` (absolute paths joined by ", ") read as silisocs
    writes them; ``source_files`` lists the same files relative to the run directory.
    """
    sources = [f.relpath for f in files]
    return {
        "summary_type": summary_type,
        "mode": mode,
        "run_dir": str(Path(run_dir).resolve()),
        "source_files": sources,
        "source_file": source_file(run_dir, files) if files else None,
        "game_masters": sorted({f.game_master for f in files}),
        "bad_lines": stats.bad_lines,
        "bad_lines_by_file": dict(stats.bad_by_file),
        "bad_line_samples": list(stats.bad_samples),
        "lines_read": stats.lines,
        "warnings": [],
    }


def source_file(run_dir: Path, files: list) -> str:
    """The files read, as absolute paths joined by ``", "`` (``files`` are ``reader.EventFile``s)."""
    base = Path(run_dir).resolve()
    out = []
    for ef in files:
        rel = Path(ef.relpath)
        out.append(str(base / rel) if not rel.is_absolute() else str(rel))
    return ", ".join(out)
