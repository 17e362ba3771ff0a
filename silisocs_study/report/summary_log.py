"""``summary-append``: the study's research log, one JSON line + one Markdown block per note.

``summary_log.jsonl`` lines: ``{created_at, study_id, study_name, author, hypothesis,
condition, note, evidence_paths}``. ``SUMMARY.md`` starts with "# Study Summary" and
"Study: <name>" (written by whichever appender finds the file empty), then per note::

    ## <created_at> | <author>
    Hypothesis: <h or n/a>
    Condition: <c or n/a>

    <note>

    Evidence:
    - <path>

Both files are appended under an exclusive ``flock`` with a single ``write`` each, so
concurrent writers (Slurm array tasks, several analysts) never interleave or lose entries.

Neither is ever appended through a symlink: their history lives in the file, so a link
planted in their place (or a folder on the way inside the study) is refused with a one-line
error before either file is touched; point ``study_summary_path`` / ``summary_log_path`` in
the study file at another place instead.

Both files belong to the study being used: by default ``SUMMARY.md`` beside its study file and
``generated/summary_log.jsonl`` in its workspace. An explicit ``study_summary_path`` /
``summary_log_path`` that lands in the folder of *another* study (a copied study still naming
its original's files, as silisocs writes them) is refused at its line, nothing written: a
copy never appends to the original's log. A study nested inside another study's folder may
point at that parent's files.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..atomic import refuse_links
from ..errors import StudyError, did_you_mean
from ..ledger.lockfile import append_bytes, append_line
from ..ledger.records import utc_now

MD_WHAT = "the study summary SUMMARY.md"
LOG_WHAT = "the research log summary_log.jsonl"


def paths(study) -> tuple[Path, Path]:
    """(SUMMARY.md, summary_log.jsonl) of a study."""
    md = study.summary_path or Path(study.workspace) / "SUMMARY.md"
    log = study.summary_log_path or Path(study.generated) / "summary_log.jsonl"
    return Path(md), Path(log)


def validate(study, hypothesis: str | None, condition: str | None) -> None:
    hyps = _conditions(study)
    if hypothesis is not None and hypothesis not in hyps:
        raise StudyError(f"--hypothesis '{hypothesis}' is not a hypothesis of "
                         f"{study.study_id}{did_you_mean(hypothesis, hyps)}"
                         f" (known: {', '.join(hyps) or 'none'})")
    if condition is not None:
        pool = hyps[hypothesis] if hypothesis is not None else \
            [c for cs in hyps.values() for c in cs]
        if condition not in pool:
            where = f"hypothesis {hypothesis}" if hypothesis else study.study_id
            raise StudyError(f"--condition '{condition}' is not a condition of {where}"
                             f"{did_you_mean(condition, pool)} (known: "
                             f"{', '.join(dict.fromkeys(pool)) or 'none'})")


def _conditions(study) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {h: [] for h in (study.hypotheses or {})}
    for g in study.groups:
        conds = out.setdefault(g.hypothesis, [])
        if g.condition not in conds:
            conds.append(g.condition)
    return out


def append_summary(study, *, author: str, note: str, hypothesis: str | None = None,
                   condition: str | None = None, evidence: list[str] | None = None,
                   created_at: str | None = None) -> dict:
    """Validate, then append to both files; returns the JSON entry."""
    if not author or not author.strip():
        raise StudyError("--author must not be empty")
    if not note or not note.strip():
        raise StudyError("--note must not be empty")
    validate(study, hypothesis, condition)
    evidence = [str(p) for p in (evidence or [])]
    for p in evidence:
        path = Path(p)
        if not path.is_absolute():
            path = Path(study.repo_root) / path
        if not path.exists() and not Path(p).exists():
            print(f"warning: evidence path does not exist: {p}", file=sys.stderr)
    entry = {"created_at": created_at or utc_now(), "study_id": study.study_id,
             "study_name": study.name, "author": author, "hypothesis": hypothesis,
             "condition": condition, "note": note, "evidence_paths": evidence}
    md, log = paths(study)
    for key, path in (("study_summary_path", md), ("summary_log_path", log)):
        _refuse_other_study(study, key, path)
    md_below, log_below = _below(study, md), _below(study, log)
    for path, below, what in ((log, log_below, LOG_WHAT), (md, md_below, MD_WHAT)):
        refuse_links(path, below, what, final=True)   # both checked before either is written
    append_line(log, entry, what=LOG_WHAT, below=log_below)
    append_markdown(md, study.name, markdown_block(entry), below=md_below)
    return entry


STUDY_FILES = ("study.yaml", "study.yml")


def _owner(path: Path) -> Path | None:
    """The nearest folder above ``path`` that holds a study file (a study's workspace)."""
    for folder in Path(os.path.abspath(path)).parents:
        if any((folder / name).is_file() for name in STUDY_FILES):
            return folder
    return None


def _refuse_other_study(study, key: str, path: Path) -> None:
    """``path`` (an explicit setting) must not lie in another study's folder, unless this
    study is nested inside that folder."""
    workspace = Path(os.path.abspath(study.workspace))
    owner = _owner(path)
    if owner is None or owner == workspace or owner in workspace.parents:
        return
    other = next(owner / n for n in STUDY_FILES if (owner / n).is_file())
    own = Path(study.workspace) / ("SUMMARY.md" if key == "study_summary_path"
                                   else "generated/summary_log.jsonl")
    raise study.error(("study", key),
                      f"{_shown(path)} is in the folder of another study ({_shown(other)}; was "
                      f"this study copied from it?): remove study_summary_path and "
                      f"summary_log_path to write beside this study ({_shown(own)}), or point "
                      f"them at a place of its own")


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it lies below it."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def _below(study, path: Path) -> Path | None:
    """The study folder ``path`` lies in (generated/ first: it may itself be a link to
    scratch space), below which no folder on the way may be a symlink; None outside."""
    for root in (getattr(study, "generated", None), getattr(study, "workspace", None)):
        if root is None:
            continue
        try:
            Path(path).relative_to(root)
        except ValueError:
            continue
        return Path(root)
    return None


def markdown_block(entry: dict) -> str:
    lines = ["", f"## {entry['created_at']} | {entry['author']}",
             f"Hypothesis: {entry.get('hypothesis') or 'n/a'}",
             f"Condition: {entry.get('condition') or 'n/a'}", "", entry["note"].rstrip()]
    if entry.get("evidence_paths"):
        lines += ["", "Evidence:"] + [f"- {p}" for p in entry["evidence_paths"]]
    return "\n".join(lines) + "\n"


def append_markdown(path: Path, study_name: str, block: str, *,
                    below: Path | None = None) -> None:
    """Append ``block`` (writing the header first if the file is new or empty), locked;
    never through a symlink."""
    def data(fd: int) -> bytes:
        text = block
        if os.fstat(fd).st_size == 0:
            text = f"# Study Summary\n\nStudy: {study_name}\n" + block
        return text.encode("utf-8")

    append_bytes(Path(path), data, what=MD_WHAT, below=below)
