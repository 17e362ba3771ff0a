"""YAML loading that remembers where every value came from, with hard limits.

Study files are contracts: every error must point at a file, line and column. We read the
parser's event stream (libyaml's C parser when available) and build plain Python ourselves,
without recursion, so that we can (1) record a mark per YAML path, (2) reject duplicate keys,
which PyYAML silently merges, (3) accept exactly the tags listed below and no other (no
arbitrary objects), and (4) refuse hostile input before it costs time or memory.

What is accepted, and what it means:

- the standard tags ``!!str !!int !!float !!bool !!null !!map !!seq`` (``!!timestamp`` is
  kept as the text written, like an untagged date); a value that does not fit its tag
  (``!!int abc``) is an error. Every other tag (``!!binary``, ``!!set``, ``!!python/...``,
  ``!include``, ...) is refused.
- ``!ref NAME`` on a scalar: a :class:`Ref`. Where a reference is meaningful is the format
  parsers' call (see :func:`refs`).
- anchors and aliases (``&a`` / ``*a``): an alias is a copy of the anchored value. An alias
  inside the value it names (recursive), to an unknown anchor, or an anchor defined twice is
  an error.
- merge keys (``<<: *base`` or ``<<: [*a, *b]``): the merged mappings' keys, unless the
  mapping sets them itself; earlier sources win. Anything else after ``<<`` is an error.

Limits (each breach is a located error, found before the work it would cost):
:data:`MAX_DEPTH` nested mappings/lists, :data:`MAX_VALUES` values after aliases and merge
keys are expanded (so an alias bomb is refused while counting, before anything is copied),
integers in the signed 64-bit range (what JSON records, orjson and Slurm carry exactly),
no NUL characters in strings (they cannot reach argv, paths or the environment), and
:data:`MAX_FILE_BYTES` per file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml
from yaml.events import (AliasEvent, DocumentStartEvent, MappingEndEvent, MappingStartEvent,
                         ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent)

from ..errors import StudyError

try:  # the C parser is several times faster; marks are the same
    from yaml._yaml import CParser
    _Parser: type = CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _Parser = yaml.SafeLoader

MAX_DEPTH = 64                  # nested mappings/lists; far below Python's recursion limit
MAX_VALUES = 1_000_000          # values after expanding aliases and merge keys
MAX_FILE_BYTES = 16 * 1024 * 1024
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1
_MAX_NUMBER_TEXT = 200          # characters of an int/float literal (0b + 64 digits fits)

_Y = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = _Y + "str", _Y + "int", _Y + "float", _Y + "bool", _Y + "null"
_MAP, _SEQ, _TIMESTAMP, _MERGE = _Y + "map", _Y + "seq", _Y + "timestamp", _Y + "merge"
# resolved implicitly for plain '=', '!', '&', '*': no meaning in a study file, kept as text
_AS_TEXT = {_Y + "value", _Y + "yaml", _MERGE, _TIMESTAMP}
_ALLOWED_TAGS = "!ref, !!str, !!int, !!float, !!bool, !!null, !!map, !!seq, !!timestamp"
_IMPLICIT = {key: tuple(value) for key, value in
             yaml.resolver.Resolver.yaml_implicit_resolvers.items()}
_WILDCARD = _IMPLICIT.pop(None, ())
_TIMESTAMP_RE = next(r for t, r in _IMPLICIT["2"] if t == _TIMESTAMP)
_NULL_RE = next(r for t, r in _IMPLICIT["~"] if t == _NULL)
# characters YAML forbids in a stream (PyYAML's Reader set); checked here so that the error
# has a line and column, and lone surrogates never reach the C parser's UTF-8 encoder
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD"
                            "\U00010000-\U0010FFFF]")
_CONSTRUCT = yaml.constructor.SafeConstructor()
_BOOLS = _CONSTRUCT.bool_values


@dataclass(frozen=True)
class Ref:
    """A ``!ref NAME`` reference, resolved later within the same file."""

    name: str


Path_ = tuple  # a YAML path: tuple of str keys and int indexes


@dataclass
class Document:
    """Plain Python data plus the (line, column) of every value and mapping key (1-based)."""

    file: str
    data: Any
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    text: str = ""
    warnings: list[str] = field(default_factory=list)   # located notes that do not stop a plan
    has_refs: bool = False                               # any !ref in the data (see refs())

    def warn(self, path: Path_, message: str) -> None:
        self.warnings.append(self.error(path, message).format())

    def error(self, path: Path_, message: str, *, at_key: bool = False) -> StudyError:
        """A StudyError located at ``path`` (its key when ``at_key``), else its nearest parent.

        Values copied by an alias or a merge key are located at the alias / ``<<``."""
        marks = self.key_marks if at_key else self.value_marks
        probe = tuple(path)
        mark = marks.get(probe)
        while mark is None and probe:
            probe = probe[:-1]
            mark = self.value_marks.get(probe) or self.key_marks.get(probe)
        line, col = mark if mark else (None, None)
        return StudyError(message, file=self.file, line=line, column=col,
                          path=format_path(path) or None)


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def refs(data: Any) -> Iterator[tuple[Path_, Ref]]:
    """Every ``!ref`` in ``data`` with its YAML path, in document order (no recursion)."""
    stack: list[tuple[Path_, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, Ref):
            yield path, value
        elif isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in reversed(list(enumerate(value))))


def load_document(path: Path, display: str | None = None) -> Document:
    """Read and compose ``path``; raise StudyError for unreadable files and invalid YAML."""
    shown = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StudyError(f"file is {size:,} bytes; study files may have at most "
                             f"{MAX_FILE_BYTES:,}", file=shown)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError("file not found", file=shown) from None
    except IsADirectoryError:
        raise StudyError("is a directory, expected a YAML file", file=shown) from None
    except UnicodeDecodeError as exc:
        raise StudyError(f"not UTF-8 text ({exc.reason})", file=shown) from None
    except OSError as exc:
        raise StudyError(f"cannot read: {exc.strerror}", file=shown) from None
    return parse_document(text, shown)


def parse_document(text: str, display: str) -> Document:
    if len(text) > MAX_FILE_BYTES:
        raise StudyError(f"text is {len(text):,} characters; study files may have at most "
                         f"{MAX_FILE_BYTES:,}", file=display)
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise StudyError(f"invalid YAML: character {ord(bad.group()):#06x} is not allowed "
                         f"(YAML files hold printable text)", file=display, line=line,
                         column=column)
    doc = Document(file=display, data=None, text=text)
    parser = _Parser(text)
    try:
        doc.data = _Builder(doc).build(parser)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise StudyError(f"invalid YAML: {problem}", file=display,
                         line=mark.line + 1 if mark else None,
                         column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise StudyError(f"invalid YAML: {first}", file=display) from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()
    return doc


def _short(tag: str) -> str:
    return "!!" + tag[len(_Y):] if tag.startswith(_Y) else tag


class _Frame:
    """A mapping or list being built."""

    __slots__ = ("data", "path", "is_map", "anchor", "size", "height", "key", "merges")

    def __init__(self, data, path, is_map, anchor):
        self.data = data
        self.path = path
        self.is_map = is_map
        self.anchor = anchor
        self.size = 1
        self.height = 0
        self.key = _NO_KEY
        self.merges: list | None = None


_NO_KEY = object()
_MERGE_KEY = object()
_OPEN = object()   # an anchor whose value is still being built


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.value_marks = doc.value_marks
        self.key_marks = doc.key_marks
        self.anchors: dict[str, Any] = {}   # name -> _OPEN | (value, size, height)
        self.anchor_lines: dict[str, int] = {}
        self.count = 0
        self.shared = False   # an alias or a merge key made parts of the data shared

    # -- errors ---------------------------------------------------------------------------
    def fail(self, event, path: Path_, message: str) -> StudyError:
        mark = event.start_mark
        return StudyError(message, file=self.doc.file, line=mark.line + 1,
                          column=mark.column + 1, path=format_path(path) or None)

    def add(self, n: int, event, path: Path_) -> None:
        self.count += n
        if self.count > MAX_VALUES:
            raise self.fail(event, path, f"the document expands to more than {MAX_VALUES:,} "
                                         f"values (aliases and merge keys included): refused")

    # -- the event loop -------------------------------------------------------------------
    def build(self, parser) -> Any:
        stack: list[_Frame] = []
        result = None
        documents = 0
        get = parser.get_event
        while True:
            ev = get()
            cls = ev.__class__
            if cls is ScalarEvent or cls is MappingStartEvent or cls is SequenceStartEvent \
                    or cls is AliasEvent:
                top = stack[-1] if stack else None
                if top is not None and top.is_map and top.key is _NO_KEY:
                    self.key(top, ev)
                    continue
                if top is None:
                    path: Path_ = ()
                elif top.is_map:
                    path = top.path + (("<<",) if top.key is _MERGE_KEY else (top.key,))
                else:
                    path = top.path + (len(top.data),)
                mark = ev.start_mark
                self.value_marks[path] = (mark.line + 1, mark.column + 1)
                if cls is ScalarEvent:
                    self.add(1, ev, path)
                    value, size, height = self.scalar(ev, path), 1, 0
                    if ev.anchor is not None:
                        self.define(ev, path, (value, 1, 0))
                elif cls is AliasEvent:
                    value, size, height = self.alias(ev, path, len(stack))
                else:
                    if len(stack) >= MAX_DEPTH:
                        raise self.fail(ev, path[:6], f"nested deeper than {MAX_DEPTH} levels of "
                                                  f"mappings and lists: refused")
                    is_map = cls is MappingStartEvent
                    tag = ev.tag
                    if tag is not None and tag != "!" and tag != (_MAP if is_map else _SEQ):
                        raise self.bad_tag(ev, path, tag, "a mapping" if is_map else "a list")
                    self.add(1, ev, path)
                    if ev.anchor is not None:
                        self.define(ev, path, _OPEN)
                    stack.append(_Frame({} if is_map else [], path, is_map, ev.anchor))
                    continue
                if top is None:
                    result = value
                else:
                    self.attach(top, value, size, height, ev)
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                frame = stack.pop()
                value = self.merged(frame) if frame.merges is not None else frame.data
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (value, frame.size, frame.height + 1)
                if stack:
                    self.attach(stack[-1], value, frame.size, frame.height + 1, ev)
                else:
                    result = value
            elif cls is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise self.fail(ev, (), "expected a single YAML document, found another "
                                            "('---')")
            elif cls is StreamEndEvent:
                # aliases share their anchor's value while counting (so that an alias bomb
                # is refused before anything is copied); un-share within the counted size
                return _copy(result) if self.shared and isinstance(result, (dict, list)) \
                    else result

    def attach(self, top: _Frame, value, size: int, height: int, ev) -> None:
        top.size += size
        if height > top.height:
            top.height = height
        if not top.is_map:
            top.data.append(value)
            return
        key = top.key
        top.key = _NO_KEY
        if key is _MERGE_KEY:
            sources = value if isinstance(value, list) else [value]
            if not sources or not all(isinstance(s, dict) for s in sources):
                raise self.doc.error(top.path + ("<<",), "merge key '<<' needs a mapping or a "
                                                         "list of mappings")
            if top.merges is None:
                top.merges = []
            self.shared = True
            top.merges.extend(sources)
            return
        top.data[key] = value

    def merged(self, frame: _Frame) -> dict:
        """Keys from ``<<`` sources (earlier sources win) the mapping does not set itself."""
        out: dict = {}
        where = self.value_marks.get(frame.path + ("<<",))
        assert frame.merges is not None   # only called for a mapping with a '<<' key
        for source in frame.merges:
            for key, value in source.items():
                if key not in frame.data and key not in out:
                    out[key] = value
                    if where is not None:
                        self.key_marks.setdefault(frame.path + (key,), where)
                        self.value_marks.setdefault(frame.path + (key,), where)
        out.update(frame.data)
        return out

    # -- keys -----------------------------------------------------------------------------
    def key(self, top: _Frame, ev) -> None:
        cls = ev.__class__
        if cls is MappingStartEvent or cls is SequenceStartEvent:
            raise self.fail(ev, top.path, "mapping keys must be plain scalars")
        mark = ev.start_mark
        if cls is AliasEvent:
            value = self.alias(ev, top.path, 0)[0]
            if isinstance(value, (dict, list)):
                raise self.fail(ev, top.path, "mapping keys must be plain scalars")
        else:
            if ev.tag is None and ev.implicit[0] and ev.value == "<<":
                top.key = _MERGE_KEY
                self.key_marks[top.path + ("<<",)] = (mark.line + 1, mark.column + 1)
                return
            value = self.scalar(ev, top.path)
            if ev.anchor is not None:
                self.define(ev, top.path, (value, 1, 0))
        if isinstance(value, Ref):
            raise self.fail(ev, top.path, "a !ref cannot be a mapping key")
        if not isinstance(value, str):
            if value is None:
                value = "null"
            elif isinstance(value, bool):
                value = "true" if value else "false"
            else:
                value = str(value)
        path = top.path + (value,)
        if value in top.data:
            raise self.fail(ev, path, f"duplicate key '{value}'")
        self.key_marks[path] = (mark.line + 1, mark.column + 1)
        top.key = value

    # -- anchors and aliases --------------------------------------------------------------
    def define(self, ev, path: Path_, entry) -> None:
        name = ev.anchor
        if name in self.anchors:
            raise self.fail(ev, path, f"anchor '&{name}' is already defined on line "
                                      f"{self.anchor_lines[name]}")
        self.anchors[name] = entry
        self.anchor_lines[name] = ev.start_mark.line + 1

    def alias(self, ev, path: Path_, depth: int):
        entry = self.anchors.get(ev.anchor)
        if entry is None:
            raise self.fail(ev, path, f"alias '*{ev.anchor}' names no anchor defined before it")
        if entry is _OPEN:
            raise self.fail(ev, path, f"recursive alias '*{ev.anchor}': it is inside the value "
                                      f"it names")
        value, size, height = entry
        self.add(size, ev, path)   # counted before anything is copied
        if depth + height > MAX_DEPTH:
            raise self.fail(ev, path[:6], f"alias '*{ev.anchor}' nests deeper than {MAX_DEPTH} "
                                      f"levels of mappings and lists: refused")
        if isinstance(value, (dict, list)):
            self.shared = True   # copied once the whole document is counted (see build)
        return value, size, height

    # -- scalars --------------------------------------------------------------------------
    def scalar(self, ev, path: Path_) -> Any:
        value = ev.value
        tag = ev.tag
        if tag is None:
            if not ev.implicit[0]:        # quoted: always a string
                tag = _STR
            else:
                tag = _STR
                for candidate, regexp in _IMPLICIT.get(value[:1], ()) + _WILDCARD:
                    if regexp.match(value):
                        tag = candidate
                        break
        elif tag == "!":
            tag = _STR
        elif tag in _AS_TEXT and tag != _TIMESTAMP:   # written out: '!!merge x', '!!value x'
            raise self.bad_tag(ev, path, tag, "a scalar")
        if tag == _STR or tag in _AS_TEXT:
            if tag == _TIMESTAMP and ev.tag is not None and not _TIMESTAMP_RE.match(value):
                raise self.fail(ev, path, f"{_show(value)} is not a valid !!timestamp")
            if "\x00" in value:
                raise self.fail(ev, path, "strings may not contain NUL characters (\\0)")
            return value
        if tag == _INT:
            return self.integer(ev, path, value)
        if tag == _FLOAT:
            if len(value) > _MAX_NUMBER_TEXT:
                raise self.fail(ev, path, f"number literal longer than {_MAX_NUMBER_TEXT} "
                                          f"characters: refused")
            try:
                return _CONSTRUCT.construct_yaml_float(yaml.ScalarNode(tag, value))
            except (ValueError, IndexError, OverflowError):
                raise self.fail(ev, path, f"{_show(value)} is not a valid !!float") from None
        if tag == _BOOL:
            result = _BOOLS.get(value.lower())
            if result is None:
                raise self.fail(ev, path, f"{_show(value)} is not a valid !!bool")
            return result
        if tag == _NULL:
            if not _NULL_RE.match(value):
                raise self.fail(ev, path, f"{_show(value)} is not a valid !!null")
            return None
        if tag == "!ref":
            name = value.strip()
            if not name:
                raise self.fail(ev, path, "!ref needs a name")
            if "\x00" in name:
                raise self.fail(ev, path, "strings may not contain NUL characters (\\0)")
            self.doc.has_refs = True
            return Ref(name)
        raise self.bad_tag(ev, path, tag, "a scalar")

    def integer(self, ev, path: Path_, value: str) -> int:
        if len(value) > _MAX_NUMBER_TEXT:
            raise self.fail(ev, path, f"integer literal longer than {_MAX_NUMBER_TEXT} "
                                      f"characters: refused")
        try:
            number = _CONSTRUCT.construct_yaml_int(yaml.ScalarNode(_INT, value))
        except (ValueError, IndexError):
            raise self.fail(ev, path, f"{_show(value)} is not a valid !!int") from None
        if not INT_MIN <= number <= INT_MAX:
            raise self.fail(ev, path, f"integer {_show(value)} is out of range: integers must "
                                      f"fit in 64 bits ({INT_MIN} to {INT_MAX})")
        return number

    def bad_tag(self, ev, path: Path_, tag: str, what: str) -> StudyError:
        if tag in (_MAP, _SEQ, _STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP, "!ref"):
            return self.fail(ev, path, f"tag '{_short(tag)}' cannot be used on {what}")
        return self.fail(ev, path, f"unsupported YAML tag '{_short(tag)}' (allowed: "
                                   f"{_ALLOWED_TAGS})")


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _copy(value):
    """A deep copy of mappings and lists (depth is bounded by MAX_DEPTH)."""
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    return [_copy(v) if isinstance(v, (dict, list)) else v for v in value]
