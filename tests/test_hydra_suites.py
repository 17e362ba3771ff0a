"""Hydra's own plugin test suites, run against ``hydra/sweeper=study`` with no study given.

Without a study the study sweeper must behave exactly like Hydra's BasicSweeper (comma
sweeps, batches, job numbering, multirun.yaml, per-job output dirs), with the basic and the
joblib launcher. The suites are subclassed the way Hydra's plugins do it (class-level
parametrize). ``chdir_plugin_root()`` is not called: it wants a setup.py, and the suites only
use Hydra's bundled test apps (``hydra.test_utils.a_module`` + ``configs``) and scripts they
write into tmpdir. ``hydra_sweep_runner`` and ``hydra_restore_singletons`` come from the
pytest plugin hydra-core registers (entry point ``hydra_pytest``).

``test_the_batched_suite_catches_a_sweeper_that_loses_a_batch`` checks that these suites can
fail: the same suite run against a sweeper that drops a batch fails.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hydra.test_utils.launcher_common_tests import (BatchedSweeperTestSuite,
                                                    IntegrationTestSuite, LauncherTestSuite)
from pytest import mark

from conftest import REPO

STUDY = ["hydra/sweeper=study"]


@mark.parametrize("launcher_name, overrides", [
    pytest.param("basic", list(STUDY), id="basic"),
    pytest.param("joblib", STUDY + ["hydra.launcher.n_jobs=2"], id="joblib"),
])
class TestStudySweeperLauncherSuite(LauncherTestSuite):
    pass


@mark.parametrize("launcher_name, overrides", [
    pytest.param("basic", STUDY + ["hydra.sweeper.max_batch_size=2"], id="basic"),
    pytest.param("joblib", STUDY + ["hydra.sweeper.max_batch_size=2",
                                    "hydra.launcher.n_jobs=2"], id="joblib"),
])
class TestStudySweeperBatchedSuite(BatchedSweeperTestSuite):
    pass


@mark.parametrize("task_launcher_cfg, extra_flags", [
    pytest.param({}, ["-m", "hydra/sweeper=study", "hydra/launcher=basic"], id="basic"),
    # every integration test runs a single job: one loky worker is enough
    pytest.param({}, ["-m", "hydra/sweeper=study", "hydra/launcher=joblib",
                      "hydra.launcher.n_jobs=1"], id="joblib", marks=pytest.mark.slow),
])
class TestStudySweeperIntegrationSuite(IntegrationTestSuite):
    pass


@mark.usefixtures("hydra_restore_singletons")
def test_the_batched_suite_catches_a_sweeper_that_loses_a_batch(hydra_sweep_runner, tmpdir,
                                                                monkeypatch):
    """Mutation check: the same suite fails if the study sweeper drops its last batch."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    real = BasicSweeper.sweep

    def lossy(self, arguments):
        return real(self, arguments)[:-1]

    monkeypatch.setattr(BasicSweeper, "sweep", lossy)
    with pytest.raises(AssertionError):
        TestStudySweeperBatchedSuite().test_sweep_2_jobs_2_batches(
            hydra_sweep_runner, "basic", STUDY + ["hydra.sweeper.max_batch_size=2"],
            tmpdir)


def test_sweeper_params_work_like_the_basic_sweeper(tmp_path):
    """``hydra.sweeper.params`` (BasicSweeper's sweep given in a config file) works without a
    study. (Like BasicSweeper's, it cannot be set from the command line: it defaults to null.)
    """
    conf = tmp_path / "conf"
    conf.mkdir()
    app_conf = (REPO / "tests" / "apps" / "noop" / "conf" / "config.yaml").read_text()
    (conf / "config.yaml").write_text(
        "defaults:\n  - override hydra/sweeper: study\n  - _self_\n" + app_conf
        + "  sweeper:\n    params:\n      x: 3,4\n")
    proc = subprocess.run([sys.executable, "-m", "tests.apps.noop", "--config-path", str(conf),
                           "--multirun", "seed=7", f"hydra.sweep.dir={tmp_path / 'mr'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    jobs = sorted((tmp_path / "mr").glob("*/.hydra/overrides.yaml"))
    assert [yaml.safe_load(p.read_text()) for p in jobs] == [["x=3", "seed=7"],
                                                             ["x=4", "seed=7"]]
