"""Coding rows across processes: byte-range segments of event files, claimed by workers.

Why: parsing is CPU-bound and a 1M-event run is hundreds of MB, so on a multi-core node the
files are cut into line-aligned byte ranges. Each worker codes its ranges against a private
table (distinct value → integer) and the parent remaps those codes into one table. The parent
takes ranges from the front and workers from the back, so nobody waits at the end; anything
that goes wrong with workers quietly falls back to this process.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .reader import BLOCK_BYTES, BlockParser, EventFile, ReadStats, iter_buffers, paused_gc


@dataclass(frozen=True)
class Segment:
    """Lines of ``file`` whose first byte lies in ``[start, end)``: the unit of (parallel) work."""

    file: EventFile
    start: int
    end: int | None


WORKERS_ENV = "SILISOCS_EVAL_WORKERS"
PARALLEL_MIN_BYTES = 48 << 20
SEGMENTS_PER_WORKER = 8
MIN_SEGMENT_BYTES = 4 << 20


def worker_count(total_bytes: int) -> int:
    """Processes to use: ``SILISOCS_EVAL_WORKERS`` if set, else all usable CPUs (≤ 8) for big inputs."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env.isdigit():
        return max(1, int(env))
    if total_bytes < PARALLEL_MIN_BYTES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def plan_segments(files: list[EventFile], pieces_wanted: int) -> list[Segment]:
    """Cut files into about ``pieces_wanted`` equal byte ranges (none smaller than 4 MB)."""
    sizes = []
    for ef in files:
        try:
            sizes.append(ef.path.stat().st_size)
        except OSError:
            sizes.append(0)
    total = sum(sizes)
    if pieces_wanted <= 1 or total == 0:
        return [Segment(ef, 0, None) for ef in files]
    target = max(total / pieces_wanted, MIN_SEGMENT_BYTES)
    segments = []
    for ef, size in zip(files, sizes):
        pieces = max(1, round(size / target))
        bounds = [size * i // pieces for i in range(pieces + 1)]
        bounds[-1] = None  # the last piece reads to the end, even if the file grew since stat()
        segments += [Segment(ef, lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    return segments


@dataclass
class SegmentResult:
    """One coded segment. ``keys`` is the private code table of a worker (``keys[i]`` ↔ code ``i``)."""

    keys: list | None
    codes: bytes
    lines_in_segment: int
    stats: ReadStats


def code_segment(segment: Segment, getter: Callable, fallback: Callable, table: dict | None = None,
                 block_bytes: int = BLOCK_BYTES) -> SegmentResult:
    """Code every good row of a segment against ``table`` (``None``: a private one, worker side)."""
    from array import array
    from collections import defaultdict
    from itertools import count

    own = table is None
    if own:
        table = defaultdict(count().__next__)
    stats = ReadStats()
    parser = BlockParser(getter, fallback, table.__getitem__)
    codes = array("q")
    seen = 0
    with paused_gc():
        try:
            for buf in iter_buffers(segment.file.path, segment.start, segment.end, block_bytes):
                values, n, n_lines = parser.parse(buf, lambda i, why, b=seen: stats.bad(segment.file, b + i, why))
                stats.lines += n
                stats.rows += len(values)
                codes.extend(values)
                seen += n_lines
        except OSError as exc:
            stats.bad(segment.file, -1, f"unreadable: {exc}")
    return SegmentResult(list(table) if own else None, codes.tobytes(), seen, stats)


def code_rows(files: list[EventFile], getter: Callable, fallback: Callable, stats: ReadStats,
              workers: int | None = None) -> tuple[dict, list[tuple[str, object]]]:
    """Code all rows: ``(table, [(game_master, int64 ndarray of codes), ...])`` in file order.

    ``table`` maps each distinct ``getter`` value to its code. Large inputs are split into byte
    ranges shared with worker processes; any trouble with workers falls back to this process.
    """
    from collections import defaultdict
    from itertools import count

    import numpy as np

    total = 0
    for ef in files:
        try:
            total += ef.path.stat().st_size
        except OSError:
            pass
    n_workers = worker_count(total) if workers is None else max(1, workers)
    segments = plan_segments(files, n_workers * SEGMENTS_PER_WORKER if n_workers > 1 else 1)
    table: defaultdict = defaultdict(count().__next__)
    results: list[SegmentResult | None] = [None] * len(segments)
    pool = claim = None
    futures: list = []
    if n_workers > 1 and len(segments) > 1:
        pool, claim, futures = _start_workers(segments, getter, fallback, n_workers - 1)
    try:
        # The parent claims segments front to back while workers claim them back to front, so
        # all stay busy until they meet and nobody waits on a queued segment at the end.
        while claim is not None and (i := _claim(claim, from_back=False)) is not None:
            results[i] = code_segment(segments[i], getter, fallback, table)
        for fut in futures:
            try:
                for i, res in fut.result():
                    results[i] = res
            except Exception:  # noqa: BLE001 - a dead worker's segments are redone below
                pass
        for i, res in enumerate(results):
            if res is None:
                results[i] = code_segment(segments[i], getter, fallback, table)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    streams: list[tuple[str, object]] = []
    line_base: dict[str, int] = {}
    for seg, res in zip(segments, results):
        assert res is not None
        rel = seg.file.relpath
        stats.merge(res.stats, line_base.get(rel, 0))
        line_base[rel] = line_base.get(rel, 0) + res.lines_in_segment
        codes = np.frombuffer(res.codes, dtype=np.int64)
        if res.keys is not None and len(codes):
            remap = np.fromiter(map(table.__getitem__, res.keys), dtype=np.int64, count=len(res.keys))
            codes = remap[codes]
        streams.append((seg.file.game_master, codes))
    return table, streams


_WORKER_CLAIM = None


def _init_worker(claim: object) -> None:
    global _WORKER_CLAIM
    _WORKER_CLAIM = claim


def _claim(claim: Any, from_back: bool) -> int | None:
    """Atomically take the next unclaimed segment index from one end of ``[front, back]``."""
    with claim.get_lock():
        front, back = claim[0], claim[1]
        if front > back:
            return None
        if from_back:
            claim[1] = back - 1
            return back
        claim[0] = front + 1
        return front


def _worker_run(segments: list[Segment], getter: Callable, fallback: Callable) -> list[tuple[int, SegmentResult]]:
    """Worker side: code segments claimed from the back until none are left."""
    out = []
    while (i := _claim(_WORKER_CLAIM, from_back=True)) is not None:
        out.append((i, code_segment(segments[i], getter, fallback)))
    return out


def _start_workers(segments: list[Segment], getter: Callable, fallback: Callable, n: int) -> tuple[Any, Any, list]:
    """Start ``n`` spawned workers sharing a claim counter, or return no pool if that is impossible.

    Workers are spawned (fork is unsafe in threaded hosts) while ``__main__`` is masked, so a host
    script without an ``if __name__ == "__main__"`` guard is never re-executed inside a worker.
    """
    import multiprocessing as mp
    import sys
    import types
    from concurrent.futures import ProcessPoolExecutor

    if mp.current_process().daemon:
        return None, None, []
    main = sys.modules.get("__main__")
    try:
        ctx = mp.get_context("spawn")
        claim = ctx.Array("q", [0, len(segments) - 1])
        pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(claim,))
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            futures = [pool.submit(_worker_run, segments, getter, fallback) for _ in range(n)]
        finally:
            if main is not None:
                sys.modules["__main__"] = main
        return pool, claim, futures
    except Exception:  # noqa: BLE001 - no semaphores, no spawn: stay single-process
        return None, None, []
