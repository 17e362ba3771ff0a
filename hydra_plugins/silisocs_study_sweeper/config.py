"""Structured configs: ``hydra/sweeper=study`` and ``hydra/callbacks=study``.

Imported by Hydra's plugin scan at every start-up, so it imports nothing heavy.
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class StudySweeperConf:
    _target_: str = "hydra_plugins.silisocs_study_sweeper.study_sweeper.StudySweeper"
    # the study (study.yaml, its directory, or an experiment spec FILE#NAME); relative paths
    # resolve against the directory Hydra was started from. None: behave like the basic sweeper
    study: Optional[str] = None
    repo_root: Optional[str] = None
    workspace: Optional[str] = None   # experiment folder (allocated by `silisocs-sweep run`)
    # a plan.json to run instead of expanding `study` (Slurm array tasks: their own rows of
    # the submission's plan); the sweeper then writes neither generated/plan.json nor views
    plan_file: Optional[str] = None
    only_hypothesis: Optional[Any] = None
    only_condition: Optional[Any] = None
    only_sub_experiment: Optional[Any] = None
    only_seed: Optional[Any] = None
    only_run_id: Optional[Any] = None
    max_batch_size: Optional[int] = None
    force: bool = False
    retry_failed: bool = False
    max_retries: int = 0
    fail_fast: bool = False
    stale: str = "rerun"              # rerun | skip | error
    dry_run: bool = False
    timeout_seconds: Optional[float] = None
    validate: bool = True             # compose one job per condition before launching
    # auto: launch this app's runs here and every other app's (runner module, config path,
    # exact command) through its own multirun subprocess; unit: only the runs of the app
    # started for unit_config_path (set by the parent); all: every run here, no check
    scope: str = "auto"
    unit_config_path: Optional[str] = None
    check: Optional[str] = None       # compose each group once, write this JSON report, run nothing
    wait: bool = False                # another process runs this study: wait instead of exit 2
    session: Optional[str] = None     # set by `silisocs-sweep run` to resume across restarts
    attach_callback: bool = True      # add StudyCallback when hydra/callbacks=study is missing
    params: Optional[Dict[str, str]] = None   # basic-sweeper compatibility (no study)


@dataclass
class StudyCallbackConf:
    _target_: str = "silisocs_study.callbacks.StudyCallback"
    rebuild_views: bool = True


cs = ConfigStore.instance()
cs.store(group="hydra/sweeper", name="study", node=StudySweeperConf, provider="silisocs_study")
cs.store(group="hydra/callbacks", name="study", node={"study": StudyCallbackConf},
         provider="silisocs_study")
