"""Coding rows across processes: byte-range segments of event files, claimed by workers.

Why: parsing is CPU-bound and a 1M-event run is hundreds of MB, so on a multi-core node the
files are cut into line-aligned byte ranges. Each worker codes its ranges against private
tables (distinct value → integer, one table per column) and the parent remaps those codes into
its own tables. The parent takes ranges from the front and workers from the back, so nobody
waits at the end; anything that goes wrong with workers quietly falls back to this process.
The same ``Helpers`` can then take other work (e.g. token counting), their start paid once.

What a row becomes is a picklable *spec* with ``width`` columns and ``coder(tables, parts)``:
``GetterSpec`` (one value per row from a getter, e.g. an action's key tuple) here, and
``columns.Columns`` (several fields of each row, e.g. a probe's label, agent and answer).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import types
from array import array
from collections import defaultdict
from collections.abc import Callable, Container
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Any, Protocol

from .reader import BLOCK_BYTES, BlockParser, EventFile, ReadStats, iter_buffers, paused_gc

if TYPE_CHECKING:   # numpy is imported where it is used: helpers start without it
    import numpy as np

#: ``code(buffer, bad, stats) -> lines in buffer``: codes a buffer's good rows into the column parts.
BufferCoder = Callable[[bytes, Callable[[int, str], None], ReadStats], int]


@dataclass(frozen=True)
class Segment:
    """Lines of ``file`` whose first byte lies in ``[start, end)``: the unit of (parallel) work."""

    file: EventFile
    start: int
    end: int | None


class RowSpec(Protocol):
    """What each row is coded into: ``width`` columns, coded by ``coder`` into ``parts``; a spec may
    name ``raw_columns`` whose parts hold values rather than codes."""

    @property
    def width(self) -> int: ...   # read-only: a frozen dataclass field or a property

    def coder(self, tables: list[dict], parts: list[array]) -> BufferCoder: ...


@dataclass(frozen=True)
class GetterSpec:
    """One column: ``getter(row)`` on the fast path (may raise), ``fallback(row)`` for odd rows."""

    getter: Callable[[dict], object]
    fallback: Callable[[dict], object]
    width: int = 1

    def coder(self, tables: list[dict], parts: list[array]) -> BufferCoder:
        parser = BlockParser(self.getter, self.fallback, tables[0].__getitem__)
        part = parts[0]

        def code(buf: bytes, bad: Callable[[int, str], None], stats: ReadStats) -> int:
            values, n, n_lines = parser.parse(buf, bad)
            stats.lines += n
            stats.rows += len(values)
            part.extend(values)
            return n_lines

        return code


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


def total_bytes(files: list[EventFile]) -> int:
    return sum(_sizes(files))


def _sizes(files: list[EventFile]) -> list[int]:
    sizes = []
    for ef in files:
        try:
            sizes.append(ef.path.stat().st_size)
        except OSError:
            sizes.append(0)
    return sizes


def plan_segments(files: list[EventFile], pieces_wanted: int) -> list[Segment]:
    """Cut files into about ``pieces_wanted`` equal byte ranges (none smaller than 4 MB)."""
    sizes = _sizes(files)
    total = sum(sizes)
    if pieces_wanted <= 1 or total == 0:
        return [Segment(ef, 0, None) for ef in files]
    target = max(total / pieces_wanted, MIN_SEGMENT_BYTES)
    segments: list[Segment] = []
    for ef, size in zip(files, sizes):
        pieces = max(1, round(size / target))
        bounds = [size * i // pieces for i in range(pieces + 1)]
        # the last piece reads to the end (None), even if the file grew since stat()
        ends: list[int | None] = [*bounds[1:-1], None]
        segments += [Segment(ef, lo, hi) for lo, hi in zip(bounds, ends)]
    return segments


@dataclass
class SegmentResult:
    """One coded segment, per column: ``keys`` is a worker's private code table (``keys[c][i]`` ↔
    code ``i``; ``None`` when coded against the parent's tables) and ``codes`` the int64 bytes."""

    keys: list[list] | None
    codes: list[bytes]
    lines_in_segment: int
    stats: ReadStats


def code_segment(segment: Segment, spec: RowSpec, tables: list[dict] | None = None,
                 block_bytes: int = BLOCK_BYTES) -> SegmentResult:
    """Code every good row of a segment against ``tables`` (``None``: private ones, worker side)."""
    own = tables is None
    if tables is None:
        tables = [defaultdict(count().__next__) for _ in range(spec.width)]
    stats = ReadStats()
    parts = [array("q") for _ in range(spec.width)]
    code = spec.coder(tables, parts)
    seen = 0

    def bad_from(b: int) -> Callable[[int, str], None]:
        """Report a bad line ``i`` of a buffer that starts ``b`` lines into the segment."""
        return lambda i, why: stats.bad(segment.file, b + i, why)

    with paused_gc():
        try:
            for buf in iter_buffers(segment.file.path, segment.start, segment.end, block_bytes):
                seen += code(buf, bad_from(seen), stats)
        except OSError as exc:
            stats.bad(segment.file, -1, f"unreadable: {exc}")
    return SegmentResult([list(t) for t in tables] if own else None, [p.tobytes() for p in parts], seen, stats)


def code_columns(files: list[EventFile], spec: RowSpec, stats: ReadStats, workers: int | None = None,
                 pool: Helpers | None = None,
                 stream_files: list[EventFile] | None = None) -> tuple[list[dict], list[tuple[str, list]]]:
    """Code all rows: ``(tables, [(game_master, [int64 ndarray per column]), ...])`` in file order.

    ``tables[c]`` maps each distinct value of column ``c`` to its code, in first-seen order (a raw
    column's table stays empty and its arrays hold the values themselves). Large
    inputs are split into byte ranges shared with helper processes (``pool``, else ones started
    here when ``workers`` or the input size calls for them); any trouble with them falls back to
    this process. ``stream_files``, if given, receives the file of each stream.
    """
    import numpy as np

    own_pool = None
    if pool is None:
        pool = own_pool = helpers_for(files) if workers is None else Helpers.start(max(1, workers) - 1)
    try:
        segments = plan_segments(files, (pool.size + 1) * SEGMENTS_PER_WORKER if pool is not None else 1)
        tables: list[dict] = [defaultdict(count().__next__) for _ in range(spec.width)]
        results = _code_all(segments, spec, tables, pool)
    finally:
        if own_pool is not None:
            own_pool.close()

    raw: Container[int] = getattr(spec, "raw_columns", frozenset())  # stored values, not codes: nothing to remap
    streams: list[tuple[str, list]] = []
    line_base: dict[str, int] = {}
    for seg, res in zip(segments, results):  # segment order, so first-seen order matches a serial read
        rel = seg.file.relpath
        stats.merge(res.stats, line_base.get(rel, 0))
        line_base[rel] = line_base.get(rel, 0) + res.lines_in_segment
        columns = []
        for c, data in enumerate(res.codes):
            codes = np.frombuffer(data, dtype=np.int64)
            if res.keys is not None and len(codes) and c not in raw:
                keys = res.keys[c]
                remap = np.fromiter(map(tables[c].__getitem__, keys), dtype=np.int64, count=len(keys))
                codes = remap[codes]
            columns.append(codes)
        streams.append((seg.file.game_master, columns))
        if stream_files is not None:
            stream_files.append(seg.file)
    return tables, streams


def code_rows(files: list[EventFile], getter: Callable, fallback: Callable, stats: ReadStats,
              workers: int | None = None) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """One value per row: ``(table, [(game_master, int64 ndarray of codes), ...])`` in file order."""
    tables, streams = code_columns(files, GetterSpec(getter, fallback), stats, workers)
    return tables[0], [(gm, columns[0]) for gm, columns in streams]


def _code_all(segments: list[Segment], spec: RowSpec, tables: list[dict], pool: Helpers | None) -> list[SegmentResult]:
    """Every segment's result, in order: this process codes against ``tables``, helpers privately."""
    results: list[SegmentResult | None] = [None] * len(segments)
    claim = None
    futures: list = []
    if pool is not None and len(segments) > 1:
        claim, futures = pool.code(segments, spec)
    # The parent claims segments front to back while helpers claim them back to front, so all
    # stay busy until they meet and nobody waits on a queued segment at the end.
    while claim is not None and (i := _claim(claim, from_back=False)) is not None:
        results[i] = code_segment(segments[i], spec, tables)
    for fut in futures:
        try:
            for i, res in fut.result():
                results[i] = res
        except Exception:  # noqa: BLE001 - a dead helper's segments are redone below
            pass
    for i, res in enumerate(results):
        if res is None:
            results[i] = code_segment(segments[i], spec, tables)
    return results  # type: ignore[return-value]


class Helpers:
    """Spawned helper processes for one evaluation: they code segments alongside this process,
    then take other pieces of work (``submit``), so their ~0.1 s start is paid once."""

    def __init__(self, executor: Any, claim: Any, size: int) -> None:
        self.executor, self.claim, self.size = executor, claim, size

    @classmethod
    def start(cls, n: int) -> Helpers | None:
        """``n`` helpers sharing a claim counter, or ``None`` if ``n < 1`` or processes can't start.

        They are spawned (fork is unsafe in threaded hosts) while ``__main__`` is masked, so a
        host script without an ``if __name__ == "__main__"`` guard is never re-executed in them.
        """
        if n < 1 or mp.current_process().daemon:
            return None
        try:
            ctx = mp.get_context("spawn")
            claim = ctx.Array("q", [0, -1])
            executor = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(claim,))
        except Exception:  # noqa: BLE001 - no semaphores, no spawn: stay single-process
            return None
        return cls(executor, claim, n)

    def submit(self, fn: Callable, *args: Any) -> Any:
        """Run ``fn(*args)`` in a helper (``fn`` must be importable without numpy to start fast)."""
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            return self.executor.submit(fn, *args)
        finally:
            if main is not None:
                sys.modules["__main__"] = main

    def defer(self, fn: Callable, *args: Any) -> Deferred:
        """``fn(*args)`` started in a helper; if that fails, ``result()`` computes it here."""
        try:
            return Deferred(fn, args, self.submit(fn, *args))
        except Exception:  # noqa: BLE001 - a broken pool: compute locally on demand
            return Deferred(fn, args, None)

    def code(self, segments: list[Segment], spec: RowSpec) -> tuple[Any, list]:
        """Let every helper claim segments from the back; ``(claim counter, futures)``."""
        with self.claim.get_lock():
            self.claim[0], self.claim[1] = 0, len(segments) - 1
        try:
            return self.claim, [self.submit(_worker_run, segments, spec) for _ in range(self.size)]
        except Exception:  # noqa: BLE001 - a broken pool: the parent codes everything
            return None, []

    def close(self) -> None:
        """Let the helpers go; they exit on their own (their results are all in by now)."""
        self.executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class Deferred:
    """A helper's pending result, with this process as the fallback."""

    fn: Callable
    args: tuple
    future: Any

    def result(self) -> Any:
        if self.future is not None:
            try:
                return self.future.result()
            except Exception:  # noqa: BLE001 - the helper died or failed: redo the work here
                pass
        return self.fn(*self.args)


def helpers_for(files: list[EventFile]) -> Helpers | None:
    """Helpers worth starting for reading ``files`` (see ``worker_count``), or ``None``."""
    return Helpers.start(worker_count(total_bytes(files)) - 1)


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


def _worker_run(segments: list[Segment], spec: RowSpec) -> list[tuple[int, SegmentResult]]:
    """Worker side: code segments claimed from the back until none are left."""
    out = []
    while (i := _claim(_WORKER_CLAIM, from_back=True)) is not None:
        out.append((i, code_segment(segments[i], spec)))
    return out
