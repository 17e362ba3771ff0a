"""YAML loading that remembers where every value came from.

Study files are contracts: every error must point at a file, line and column. PyYAML's
composer keeps marks on nodes; we convert nodes to plain Python ourselves so that we can
(1) record a mark per YAML path, (2) reject duplicate keys, which PyYAML silently merges,
and (3) accept exactly one custom tag, ``!ref NAME``, and no other (no arbitrary objects).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import StudyError

try:  # the C composer is several times faster; marks are the same
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SAFE_SCALARS = {
    _STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


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

    def warn(self, path: Path_, message: str) -> None:
        self.warnings.append(self.error(path, message).format())

    def error(self, path: Path_, message: str, *, at_key: bool = False) -> StudyError:
        """A StudyError located at ``path`` (its key when ``at_key``), else its nearest parent."""
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


def load_document(path: Path, display: str | None = None) -> Document:
    """Read and compose ``path``; raise StudyError for unreadable files and invalid YAML."""
    shown = display or str(path)
    try:
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
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise StudyError(f"invalid YAML: {problem}", file=display,
                         line=mark.line + 1 if mark else None,
                         column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise StudyError(f"invalid YAML: {exc}", file=display) from None
    doc = Document(file=display, data=None, text=text)
    if node is None:
        return doc
    doc.data = _Converter(doc).convert(node, ())
    return doc


class _Converter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.constructor = yaml.SafeLoader("")  # used only for scalar resolution

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.doc.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self._bad_tag(node, path)
            return [self.convert(child, path + (i,)) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        if node.tag != _MAP:
            raise self._bad_tag(node, path)
        self.constructor.flatten_mapping(node)  # YAML merge keys (<<)
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.doc.error(path, "mapping keys must be plain scalars")
            key = self._scalar(key_node, path)
            if isinstance(key, (list, dict)) or isinstance(key, Ref):
                raise self.doc.error(path, "mapping keys must be plain scalars")
            if not isinstance(key, str):
                key = str(key) if not isinstance(key, bool) else str(key).lower()
            child = path + (key,)
            self.doc.key_marks[child] = (key_node.start_mark.line + 1,
                                         key_node.start_mark.column + 1)
            if key in out:
                raise self.doc.error(child, f"duplicate key '{key}'", at_key=True)
            out[key] = self.convert(value_node, child)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        tag = node.tag
        if tag == "!ref":
            name = node.value.strip()
            if not name:
                raise self.doc.error(path, "!ref needs a name")
            return Ref(name)
        if tag == _TIMESTAMP:  # keep dates as written: they are usually labels, not datetimes
            return node.value
        if tag not in _SAFE_SCALARS:
            raise self._bad_tag(node, path)
        return self.constructor.construct_object(node, deep=True)

    def _bad_tag(self, node: yaml.Node, path: Path_) -> StudyError:
        mark = node.start_mark
        return StudyError(f"unsupported YAML tag '{node.tag}' (only !ref is allowed)",
                          file=self.doc.file, line=mark.line + 1, column=mark.column + 1,
                          path=format_path(path) or None)
