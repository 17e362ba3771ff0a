"""Where and with what a run was made: git, uv.lock, Python and packages, host, Slurm ids.

Captured in the process that finishes the run (the job's own process), cached per process
because git calls cost a few milliseconds each and joblib workers serve many jobs.
"""
from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

PACKAGES = ("silisocs-study", "hydra-core", "omegaconf", "hydra-submitit-launcher",
            "hydra-joblib-launcher", "submitit", "numpy")
SLURM_VARS = {"slurm_job_id": "SLURM_JOB_ID", "slurm_array_job_id": "SLURM_ARRAY_JOB_ID",
              "slurm_array_task_id": "SLURM_ARRAY_TASK_ID", "slurm_procid": "SLURM_PROCID",
              "slurm_nodelist": "SLURM_JOB_NODELIST"}


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode("utf-8", "replace").strip() if out.returncode == 0 else None


@lru_cache(maxsize=8)
def git_info(root: str) -> dict:
    path = Path(root)
    commit = _git(path, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_branch": None, "git_dirty": None,
                "git_diff_sha256": None}
    status = _git(path, "status", "--porcelain", "--untracked-files=no") or ""
    dirty = bool(status)
    diff_hash = None
    if dirty:
        try:
            diff = subprocess.run(["git", "-C", root, "diff", "HEAD"], capture_output=True,
                                  timeout=20, check=False).stdout
            diff_hash = hashlib.sha256(diff).hexdigest()
        except (OSError, subprocess.TimeoutExpired):
            diff_hash = None
    return {"git_commit": commit, "git_branch": _git(path, "rev-parse", "--abbrev-ref", "HEAD"),
            "git_dirty": dirty, "git_diff_sha256": diff_hash}


@lru_cache(maxsize=8)
def uv_lock_sha256(root: str) -> str | None:
    lock = Path(root) / "uv.lock"
    try:
        return hashlib.sha256(lock.read_bytes()).hexdigest()
    except OSError:
        return None


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment(repo_root: str | Path) -> dict:
    """Everything that describes the code and machine (same for every run of a process)."""
    root = str(repo_root)
    env = {**git_info(root), "uv_lock_sha256": uv_lock_sha256(root),
           "python": sys.version.split()[0], "python_executable": sys.executable,
           "platform": platform.platform(), "packages": package_versions(),
           "host": socket.gethostname()}
    return env


def process_ids() -> dict:
    """Per-run ids: pid and the Slurm job/array ids when running under Slurm."""
    ids: dict = {"pid": os.getpid()}
    for key, var in SLURM_VARS.items():
        if os.environ.get(var):
            ids[key] = os.environ[var]
    return ids
