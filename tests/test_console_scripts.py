"""Our console script never clashes with silisocs' own ``silisocs-study``.

Both distributions are installed for real (``uv pip install --no-deps``) into a fresh virtual
environment, in both orders; their dependencies come from this project's environment through
a ``.pth`` file, so the scripts really run. Uninstalling ours must leave silisocs' script.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from silisocs_study import COMMAND

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow]


def _uv() -> list[str]:
    """uv itself: on PATH, named by $UV (set by `uv run`), or the `uv` package of a Python
    on PATH (CI installs it with `python3 -m pip install uv`)."""
    for found in (shutil.which("uv"), os.environ.get("UV")):
        if found and os.path.isfile(found):
            return [found]
    for python in ("python3", "python"):
        try:
            out = subprocess.run([python, "-c", "import uv; print(uv.find_uv_bin())"],
                                 capture_output=True, text=True, timeout=60)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip():
            return [out.stdout.strip()]
    pytest.skip("uv not found (install it with `python3 -m pip install uv`)")


@pytest.fixture(scope="module")
def our_wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([*_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)], check=True,
                   capture_output=True)
    return next(out.glob("silisocs_study-*.whl"))


def _venv(path: Path) -> Path:
    subprocess.run([*_uv(), "venv", "-q", "--python", sys.executable, str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    # dependencies from this environment (both packages are installed without their deps)
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _install(python: Path, *what: str) -> None:
    subprocess.run([*_uv(), "pip", "install", "-q", "--no-deps", "--python", str(python), *what],
                   check=True, capture_output=True)


def _silisocs_wheel() -> str:
    from importlib import metadata

    try:
        return f"silisocs=={metadata.version('silisocs')}"
    except metadata.PackageNotFoundError:
        pytest.skip("silisocs is not installed (needs Python >= 3.11)")


def _help(script: Path) -> str:
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("order", ["ours_first", "silisocs_first"])
def test_both_scripts_work_in_either_install_order(tmp_path, our_wheel, order):
    silisocs = _silisocs_wheel()
    python = _venv(tmp_path / "venv")
    bin_dir = python.parent
    steps = [str(our_wheel), silisocs] if order == "ours_first" else [silisocs, str(our_wheel)]
    for what in steps:
        _install(python, what)
    assert COMMAND != "silisocs-study"
    ours = _help(bin_dir / COMMAND)
    assert f"usage: {COMMAND}" in ours and "organize" in ours
    theirs = (bin_dir / "silisocs-study").read_text()
    assert "silisocs.studies.run_study" in theirs      # silisocs' runner, untouched
    assert "silisocs_study" not in theirs


def test_uninstalling_ours_keeps_silisocs_script(tmp_path, our_wheel):
    silisocs = _silisocs_wheel()
    python = _venv(tmp_path / "venv")
    _install(python, silisocs)
    _install(python, str(our_wheel))
    subprocess.run([*_uv(), "pip", "uninstall", "-q", "--python", str(python), "silisocs-study"],
                   check=True, capture_output=True)
    bin_dir = python.parent
    assert not (bin_dir / COMMAND).exists()
    assert "silisocs.studies.run_study" in (bin_dir / "silisocs-study").read_text()
    # and python -m silisocs_study is gone with it, while silisocs stays importable
    gone = subprocess.run([str(python), "-c", "import silisocs_study"], capture_output=True,
                          cwd=tmp_path)
    assert gone.returncode != 0
    kept = subprocess.run([str(python), "-c", "import silisocs.studies.run_study"],
                          capture_output=True, cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
