"""Reading study files of either format into a validated :class:`~silisocs_study.model.Study`."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import StudyError
from ..model import Study


def resolve_study_path(value: str | os.PathLike, cwd: Path | None = None) -> tuple[Path, str, str | None]:
    """(absolute file, display name, experiment name) for ``--study`` (file, dir or FILE#NAME)."""
    text = str(value)
    name = None
    if "#" in text:
        text, name = text.rsplit("#", 1)
    base = cwd or Path.cwd()
    path = Path(os.path.expanduser(text))
    path = path if path.is_absolute() else base / path
    try:
        if path.is_dir():
            candidate = path / "study.yaml"
            if not candidate.is_file():
                raise StudyError("study directory does not contain study.yaml", file=text)
            return candidate.resolve(), os.path.join(text, "study.yaml"), name
        if not path.exists():
            raise StudyError("study file not found", file=text)
        return path.resolve(), text, name
    except (OSError, RuntimeError) as exc:   # a name too long, a symlink loop
        raise StudyError(f"cannot use this path: {getattr(exc, 'strerror', None) or exc}",
                         file=text) from None


def load_study(value: str | os.PathLike, repo_root: str | os.PathLike | None = None,
               *, cwd: Path | None = None, workspace: str | os.PathLike | None = None) -> Study:
    """Load and validate a study.yaml or an experiment spec; raises StudyError.

    ``workspace`` pins an experiment's folder (an allocated ``{seq}`` folder, or an earlier
    one to resume); study.yaml workspaces are always the study's own directory.
    """
    from .yamlload import load_document

    file, display, name = resolve_study_path(value, cwd)
    try:
        root = Path(repo_root).resolve() if repo_root else (cwd or Path.cwd()).resolve()
        is_dir = root.is_dir()
    except (OSError, RuntimeError) as exc:
        raise StudyError(f"--repo-root {repo_root}: cannot use this path: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if not is_dir:
        raise StudyError(f"--repo-root is not a directory: {root}")
    doc = load_document(file, display)
    if not isinstance(doc.data, dict):
        raise StudyError("expected a mapping with 'study' and 'hypotheses' (or "
                         "experiment.<name> blocks)", file=display, line=1 if doc.text else None,
                         column=1 if doc.text else None)
    from .experiment import is_experiment_file, parse_experiment

    if is_experiment_file(doc.data):
        return parse_experiment(doc, file, root, name,
                                workspace=Path(workspace).resolve() if workspace else None)
    if name is not None:
        raise StudyError(f"'#{name}' selects an experiment, but this is a study.yaml",
                         file=display)
    from .study_v1 import parse_study

    return parse_study(doc, file, root)
