"""Hydra finds ``hydra/sweeper=study`` in the install mode CI uses (``uv sync``: an editable
install of this project through a ``.pth`` path, built by hatchling).

Editable installs can hide a plugin from Hydra's ``hydra_plugins`` namespace scan (setuptools'
strict editable finder); these tests check the install mode first, then discovery both in
this process and in a fresh ``python -c`` started outside the repository, so neither pytest's
sys.path tweaks nor the cwd can make the scan succeed by accident.
"""
from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path

from conftest import PY, REPO


def test_installed_the_way_ci_installs_it():
    dist = metadata.distribution("silisocs-study")
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    assert direct.get("dir_info", {}).get("editable") is True, direct
    assert Path(direct["url"].removeprefix("file://")).resolve() == REPO
    pth = [f for f in dist.files or [] if str(f).endswith(".pth")]
    assert pth, "expected a .pth-path editable install (hatchling), found none"
    # one line per top-level package (silisocs_study, hydra_plugins), all naming the repo
    lines = Path(dist.locate_file(pth[0])).read_text().split()
    assert lines and set(lines) == {str(REPO)}, lines
    assert not (REPO / "hydra_plugins" / "__init__.py").exists(), \
        "hydra_plugins must stay a namespace package"


def test_discovery_in_process():
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    found = [f"{p.__module__}.{p.__qualname__}" for p in Plugins.instance().discover(Sweeper)]
    assert "hydra_plugins.silisocs_study_sweeper.study_sweeper.StudySweeper" in found, found


DISCOVER = """
import sys
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.core.config_store import ConfigStore
found = [f"{p.__module__}.{p.__name__}" for p in Plugins.instance().discover(Sweeper)]
print("\\n".join(found))
repo = ConfigStore.instance().repo["hydra"]
print("sweeper/study.yaml" if "study.yaml" in repo["sweeper"] else "no sweeper config")
print("callbacks/study.yaml" if "study.yaml" in repo["callbacks"] else "no callbacks config")
"""


def test_discovery_in_a_fresh_interpreter(tmp_path):
    proc = subprocess.run([PY, "-Werror", "-c", DISCOVER], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "hydra_plugins.silisocs_study_sweeper.study_sweeper.StudySweeper" in lines
    assert "hydra._internal.core_plugins.basic_sweeper.BasicSweeper" in lines
    assert "sweeper/study.yaml" in lines and "callbacks/study.yaml" in lines


def test_plugin_scan_imports_nothing_heavy(tmp_path):
    """Hydra imports every hydra_plugins module at each start-up: keep ours light."""
    code = ("import sys; import hydra_plugins.silisocs_study_sweeper.study_sweeper; "
            "heavy = [m for m in ('silisocs_study.launch.sweep', 'silisocs_study.plan', "
            "'matplotlib', 'pandas', 'numpy', 'scipy') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([PY, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
