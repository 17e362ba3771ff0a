"""The core's typed doors: launch options, sweeper settings (one dataclass: the Hydra config,
what the sweep reads, and the overrides `run` passes on), and opening a study's plan."""
from __future__ import annotations

import dataclasses

import pytest
from conftest import NOOP, REPO, hydra_multirun, noop_doc, write_study
from hydra.core.override_parser.overrides_parser import OverridesParser

from silisocs_study.errors import StudyError
from silisocs_study.launch.multirun import session_args
from silisocs_study.launch.settings import SweepSettings
from silisocs_study.options import LaunchOptions
from silisocs_study.plan import Filters
from silisocs_study.workspace import open_plan, open_workspace


def test_launch_options_refuse_an_unknown_launcher_or_stale_policy():
    assert LaunchOptions().launcher == "basic"
    with pytest.raises(ValueError, match="launcher must be one of"):
        LaunchOptions(launcher="slurmish")
    with pytest.raises(ValueError, match="stale must be one of"):
        LaunchOptions(stale="keep")
    opts = LaunchOptions(extra_overrides=["a=1"])   # a list given: stored as a tuple
    assert opts.extra_overrides == ("a=1",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.force = True   # type: ignore[misc]


def test_an_unknown_sweeper_setting_is_an_error_naming_it():
    with pytest.raises(StudyError, match=r"hydra.sweeper.retry_faild is not a study sweeper "
                                         r"setting.*retry_failed"):
        SweepSettings.from_params(study="s.yaml", retry_faild=True)
    with pytest.raises(StudyError, match="hydra.sweeper.scope must be one of"):
        SweepSettings.from_params(scope="everywhere")
    with pytest.raises(StudyError, match="hydra.sweeper.views must be one of"):
        SweepSettings(views="nobody")


def _parse(overrides: list[str]) -> dict:
    """What Hydra makes of ``hydra.sweeper.K=V`` overrides: {K: value}."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return {o.key_or_group.removeprefix("hydra.sweeper."): o.value() for o in parsed
            if o.key_or_group.startswith("hydra.sweeper.")}


def test_settings_survive_the_trip_through_hydra_overrides():
    given = SweepSettings(study="/a dir/study.yaml", repo_root="/r", workspace="/w,1",
                          only_condition=["b", "a=1"], only_seed=["3"], force=True,
                          max_retries=2, stale="skip", timeout_seconds=1.5,
                          session="abc123", views="caller", max_batch_size=7)
    overrides = given.as_overrides()
    assert all(o.startswith("hydra.sweeper.") for o in overrides)
    assert not any(o.startswith(("hydra.sweeper.dry_run", "hydra.sweeper.scope"))
                   for o in overrides)   # defaults are left out
    assert SweepSettings.from_params(**_parse(overrides)) == given


def test_session_args_carry_the_plan_selection_and_the_caller_rebuilds_views(tmp_path):
    study = write_study(tmp_path / "study", noop_doc(seeds=(1, 2, 3)))
    plan = open_plan(str(study), REPO, filters=Filters.parse(seed="2,3"))
    args = session_args(plan, "s1", retry_failed=True, views="caller")
    assert args[0] == "hydra/sweeper=study"
    values = _parse(args[1:])
    settings = SweepSettings.from_params(**values)
    assert settings.filters == plan.filters
    assert (settings.session, settings.retry_failed, settings.views) == ("s1", True, "caller")
    assert settings.study == str(plan.study.file)


def test_open_plan_and_workspace_for_a_study_yaml(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    plan = open_plan(str(study), REPO)
    assert [r.seed for r in plan.runs] == [2, 10]
    ws = open_workspace(str(study), REPO, filters=Filters.parse(seed="10"))
    assert [r.seed for r in ws.plan.runs] == [10] and not ws.claimed
    assert ws.write_spec_copy() is None and not ws.is_experiment
    with pytest.raises(StudyError, match="--workspace pins an experiment folder"):
        open_workspace(str(study), REPO, workspace=tmp_path / "elsewhere")
    # naming the study's own directory is not an error
    assert open_plan(str(study), REPO, workspace=study).study.workspace == study.resolve()


def test_a_misspelt_sweeper_setting_stops_a_real_multirun(tmp_path):
    study = write_study(tmp_path / "study", noop_doc())
    proc = hydra_multirun(NOOP, study, "+hydra.sweeper.retry_faild=true",
                          sweep_dir=tmp_path / "sweep")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "hydra.sweeper.retry_faild is not a study sweeper setting" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (study / "generated" / "records").exists()   # nothing ran
