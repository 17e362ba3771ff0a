"""The README's fenced blocks, for tests that run them (tests/test_readme.py,
tests/test_own_app.py): so a README that drifts from the code breaks a test.

A block is a fence (```lang ... ```) with its language, text, first line and ``##`` section.
A block right after a line that is only a backticked path and a colon (`` `conf/config.yaml`: ``)
is that file's content (``label``): a walkthrough writes it before running its commands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^(\s*)```([\w+-]*)\s*$")
_LABEL = re.compile(r"^`([^`\s]+)`:$")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int            # 1-based line of the opening fence
    section: str         # the "## " heading above it ("" before the first)
    label: str | None    # the file this block is the content of

    @property
    def first_line(self) -> str:
        return next((x.strip() for x in self.text.splitlines() if x.strip()), "")

    def where(self) -> str:
        return f"README.md:{self.line} ({self.section or 'top'}, ```{self.lang})"


def blocks(text: str | None = None) -> list[Block]:
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    out: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        m = _FENCE.match(line)
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"README.md:{i + 1}: unclosed code fence")
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        label = _LABEL.match(before)
        out.append(Block(lang, "\n".join(body) + "\n", i + 1, section,
                         label.group(1) if label else None))
        i = j + 1
    return out


def section_blocks(title: str) -> list[Block]:
    found = [b for b in blocks() if b.section == title]
    assert found, f"README.md has no code blocks under '## {title}'"
    return found


def section_text(title: str) -> str:
    """The raw Markdown of one ``## title`` section."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def commands(script: str) -> list[str]:
    """The commands of a bash block, one per logical line (backslash continuations joined);
    blank lines and comment lines dropped."""
    out: list[str] = []
    pending = ""
    for raw in script.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].rstrip() + " "
            continue
        pending = ""
        if line.strip() and not line.strip().startswith("#"):
            out.append(line.strip())
    assert not pending, f"a bash block ends with a continuation: {pending!r}"
    return out


def write_files(folder: Path, found: list[Block]) -> list[Path]:
    """Write every labelled block into ``folder``; returns the paths written."""
    written = []
    for block in found:
        if block.label is None:
            continue
        path = folder / block.label
        assert not Path(block.label).is_absolute() and ".." not in Path(block.label).parts
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text, encoding="utf-8")
        written.append(path)
    return written
