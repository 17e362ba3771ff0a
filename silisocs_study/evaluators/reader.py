"""Tolerant, fast reader for a run's JSONL event files.

Why it looks the way it does: event files of long runs hold millions of rows, a crashed or
concurrently-written run leaves truncated or garbled lines, and multi-game-master runs keep one
file per game master in a subfolder. So: find every file (root + immediate subfolders + files the
manifest lists) and read ~64 KB buffers of whole lines. A buffer is parsed by ONE ``orjson``
call, as a JSON array made by turning its newlines into ``,\\n`` (cache-sized, no per-line
``bytes`` objects), then reduced by C-level ``map(getter, ...)`` — no Python bytecode per row.
The row count must equal the line count, and a raw newline can never sit inside a JSON string,
so glued fragments of broken lines cannot pass as rows. Only a buffer that holds a bad or blank
line, a missing field or an odd value is re-read line by line, counting bad lines instead of
failing. ``segments`` splits big inputs into byte ranges for worker processes.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import orjson

from .payload import natural_key

ACTION_EVENTS = "action_events.jsonl"
PROBE_EVENTS = "probe_events.jsonl"
ROOT_GAME_MASTER = "root"
BLOCK_BYTES = 1 << 16  # one buffer's parsed objects stay cache-resident; 1 MB+ is ~2x slower
MAX_BAD_SAMPLES = 5
_BOM = b"\xef\xbb\xbf"
_FAST_PATH_ERRORS = (orjson.JSONDecodeError, KeyError, TypeError, IndexError, AttributeError)


@dataclass(frozen=True)
class EventFile:
    """One JSONL file of a run, tagged with the game master that wrote it."""

    path: Path
    game_master: str
    relpath: str


@dataclass
class ReadStats:
    """What the reader saw: non-blank lines, parsed rows and bad lines (with a few samples)."""

    lines: int = 0
    rows: int = 0
    bad_lines: int = 0
    bad_by_file: dict[str, int] = field(default_factory=dict)
    bad_samples: list[dict[str, object]] = field(default_factory=list)

    def bad(self, ef: EventFile, line_no: int, reason: str) -> None:
        self.bad_lines += 1
        self.bad_by_file[ef.relpath] = self.bad_by_file.get(ef.relpath, 0) + 1
        if len(self.bad_samples) < MAX_BAD_SAMPLES:
            self.bad_samples.append({"file": ef.relpath, "line": line_no, "error": reason[:200]})

    def merge(self, part: ReadStats, line_base: int) -> None:
        """Add a segment's stats; its sample line numbers are segment-relative (0-based)."""
        self.lines += part.lines
        self.rows += part.rows
        self.bad_lines += part.bad_lines
        for rel, n in part.bad_by_file.items():
            self.bad_by_file[rel] = self.bad_by_file.get(rel, 0) + n
        for sample in part.bad_samples:
            if len(self.bad_samples) < MAX_BAD_SAMPLES:
                line = sample["line"]
                shifted = line + line_base + 1 if isinstance(line, int) and line >= 0 else 0
                self.bad_samples.append(dict(sample, line=shifted))


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC while bulk-parsing.

    Parsed rows are acyclic and die young, but every dict orjson creates still counts toward the
    collector's thresholds; with a large table of surviving key tuples the resulting collections
    cost about a third of the parse time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def hashable(value: object) -> object:
    """Row values used as counting keys must hash; JSON lists/objects become canonical JSON text."""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


class Fields:
    """Picklable getter of top-level fields: ``fast`` is a C ``itemgetter`` (may raise on odd rows),
    ``fallback`` tolerates missing keys and unhashable values. Numpy-free so workers import little."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.fast = itemgetter(*names)

    def fallback(self, row: dict) -> tuple:
        return tuple(hashable(row.get(name)) for name in self.names)

    def __reduce__(self) -> tuple:
        return (Fields, self.names)


# ---------------------------------------------------------------- finding files
def _manifest_paths(run_dir: Path, filename: str) -> list[Path]:
    """Event files named in ``run_manifest.json`` artifacts (best effort; a bad manifest is ignored)."""
    try:
        manifest = orjson.loads((run_dir / "run_manifest.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []
    artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    entries = artifacts.get(filename.rsplit(".", 1)[0]) if isinstance(artifacts, dict) else None
    if isinstance(entries, str):
        entries = [entries]
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            entry = entry.get("path")
        if isinstance(entry, str) and entry:
            path = Path(entry)
            out.append(path if path.is_absolute() else run_dir / path)
    return out


def find_event_files(run_dir: Path, filename: str) -> list[EventFile]:
    """All ``filename`` files of a run: root first, then game-master subfolders in natural order,
    then any other file the manifest lists. Root-level files are tagged game master ``root``."""
    run_dir = Path(run_dir)
    found: list[EventFile] = []
    seen: set[Path] = set()

    def add(path: Path, gm: str) -> None:
        try:
            real = path.resolve()
        except OSError:
            return
        if real in seen or not path.is_file():
            return
        seen.add(real)
        try:
            rel = path.relative_to(run_dir).as_posix()
        except ValueError:
            rel = str(path)
        found.append(EventFile(path=path, game_master=gm, relpath=rel))

    add(run_dir / filename, ROOT_GAME_MASTER)
    try:
        children = sorted((c for c in run_dir.iterdir() if not c.name.startswith(".")),
                          key=lambda c: natural_key(c.name))
    except OSError:
        children = []
    for child in children:
        if child.is_dir():
            add(child / filename, child.name)
    root = run_dir.resolve()
    for path in _manifest_paths(run_dir, filename):
        add(path, ROOT_GAME_MASTER if path.parent.resolve() == root else path.parent.name)
    return found


# ---------------------------------------------------------------- reading buffers of whole lines
def iter_buffers(path: Path, start: int = 0, end: int | None = None,
                 block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Yield buffers of whole lines (no trailing newline) for the lines starting in ``[start, end)``.

    A line belongs to the segment its first byte is in, so adjacent segments neither lose nor
    share a line; the last line of a segment is completed past ``end``. A BOM is dropped.
    """
    with open(path, "rb") as fh:
        if end is None:
            end = fh.seek(0, 2)
        if start > 0:
            fh.seek(start - 1)
            fh.readline()
        else:
            fh.seek(0)
        pos = fh.tell()
        rest = b""
        first = start == 0
        while True:
            chunk = fh.read(min(block_bytes, end - pos)) if pos < end else b""
            pos += len(chunk)
            if first:
                first = False
                if chunk.startswith(_BOM):
                    chunk = chunk[len(_BOM):]
            buf = rest + chunk if rest else chunk
            if pos >= end or not chunk:
                if buf and not buf.endswith(b"\n"):
                    buf += fh.readline()
                if buf:  # even a lone blank line counts, or later line numbers would shift
                    yield buf[:-1] if buf.endswith(b"\n") else buf
                return
            cut = buf.rfind(b"\n")
            if cut < 0:
                rest = buf
                continue
            rest = buf[cut + 1:]
            yield buf[:cut]


class BlockParser:
    """Turn a buffer of lines into one value per good row; see the module docstring for the fast path."""

    SUB_BLOCK = 256

    def __init__(self, getter: Callable[[dict], object] | None, fallback: Callable[[dict], object],
                 post: Callable[[object], object] | None = None) -> None:
        self.getter, self.fallback, self.post = getter, fallback, post

    def _values(self, rows) -> list:
        if self.getter is None:  # whole rows wanted: only check that each is a JSON object
            rows = rows if isinstance(rows, list) else list(rows)
            if len(set(map(type, rows)) - {dict}):
                raise TypeError("row is not a JSON object")
            return rows
        rows = map(self.getter, rows)
        return list(map(self.post, rows) if self.post is not None else rows)

    def parse(self, buf: bytes, bad: Callable[[int, str], None]) -> tuple[list, int, int]:
        """``(values, non-blank lines, all lines)``; ``bad(line index, reason)`` hears of each bad line."""
        joined = buf.replace(b"\n", b",\n")
        n_lines = len(joined) - len(buf) + 1  # one extra byte per newline: a free line count
        try:  # a blank line makes ",\n,": invalid, so it lands in the line-by-line path below
            rows = orjson.loads(b"[" + joined + b"]")
            if len(rows) == n_lines:
                return self._values(rows), n_lines, n_lines
        except _FAST_PATH_ERRORS:
            pass
        lines = buf.split(b"\n")
        values: list = []
        count = 0
        for lo in range(0, len(lines), self.SUB_BLOCK):  # small pieces: one bad line costs little
            part = lines[lo:lo + self.SUB_BLOCK]
            good = [ln for ln in part if ln.strip()]
            try:
                values.extend(self._values(map(orjson.loads, good)))
                count += len(good)
            except _FAST_PATH_ERRORS:
                part_values, part_count = self._slow(part, lo, bad)
                values.extend(part_values)
                count += part_count
        return values, count, len(lines)

    def _slow(self, lines: list[bytes], base: int, bad: Callable[[int, str], None]) -> tuple[list, int]:
        out: list = []
        count = 0
        for offset, line in enumerate(lines):
            if not line.strip():
                continue
            count += 1
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                bad(base + offset, f"invalid JSON: {exc}")
                continue
            if not isinstance(row, dict):
                bad(base + offset, f"not a JSON object ({type(row).__name__})")
                continue
            value = self.fallback(row)
            out.append(self.post(value) if self.post is not None else value)
        return out, count
