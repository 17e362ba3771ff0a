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
            if not candidate.is_file() and (path / SPEC_COPY).is_file():
                candidate = path / SPEC_COPY   # an experiment folder
            if not candidate.is_file():
                raise StudyError("study directory does not contain study.yaml", file=text)
            return candidate.resolve(), os.path.join(text, candidate.name), name
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

    if _is_spec_copy(doc.data):   # an experiment folder's _spec_.yaml: that spec, that folder
        return _load_spec_copy(doc.data, file, display, repo_root, cwd, workspace)
    if is_experiment_file(doc.data):
        return parse_experiment(doc, file, root, name,
                                workspace=Path(workspace).resolve() if workspace else None)
    if name is not None:
        raise StudyError(f"'#{name}' selects an experiment, but this is a study.yaml",
                         file=display)
    from .study_v1 import parse_study

    return parse_study(doc, file, root)


SPEC_COPY = "_spec_.yaml"


def _is_spec_copy(data) -> bool:
    return isinstance(data, dict) and {"experiment", "spec_file", "points"} <= set(data) \
        and not any(str(k).startswith("experiment.") for k in data)


def _load_spec_copy(data: dict, file: Path, display: str, repo_root, cwd, workspace) -> Study:
    """The experiment a ``_spec_.yaml`` was written for, pinned to the folder it is in (not
    the folder it names: the folder may have been moved), with the repo root it ran with
    unless one is given."""
    spec_file = Path(str(data["spec_file"]))
    if not spec_file.is_file():
        raise StudyError(f"this experiment folder's spec file {spec_file} no longer exists "
                         f"(restore it, or pass the spec as --study with --workspace "
                         f"{file.parent})", file=display)
    study = load_study(f"{spec_file}#{data['experiment']}", repo_root or data.get("repo_root"),
                       cwd=cwd, workspace=workspace or file.parent)
    study.meta["pinned_folder"] = str(Path(workspace or file.parent).resolve())
    return study
