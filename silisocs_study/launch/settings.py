"""The study sweeper's parameters (``hydra.sweeper.*``) as one dataclass.

This dataclass *is* the ``hydra/sweeper=study`` config Hydra's ConfigStore holds (registered
by the plugin's ``config.py``), the settings the sweep reads, and — through
:meth:`SweepSettings.as_overrides` — the command line ``run`` and Slurm tasks give the
multiruns they start. The field list is written here once. Imported by Hydra's plugin scan
at every start-up, so it imports nothing heavy.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

SCOPES = ("auto", "unit", "all")
STALE = ("rerun", "skip", "error")
VIEWS = ("here", "caller")
TARGET = "hydra_plugins.silisocs_study_sweeper.study_sweeper.StudySweeper"


@dataclass
class SweepSettings:
    _target_: str = TARGET
    # the study (study.yaml, its directory, or an experiment spec FILE#NAME); relative paths
    # resolve against the directory Hydra was started from. None: behave like the basic sweeper
    study: Optional[str] = None
    repo_root: Optional[str] = None
    workspace: Optional[str] = None   # experiment folder (claimed by `silisocs-sweep run`)
    # a plan.json to run instead of expanding `study` (Slurm array tasks: their own rows of
    # the submission's plan); the sweeper then writes neither generated/plan.json nor views
    plan_file: Optional[str] = None
    # an adaptive study's round ({"round": N, "run_ids": [...]}, written by whoever drives the
    # rounds): this multirun runs exactly those runs and tags their records with N
    round_file: Optional[str] = None
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
    # who rebuilds the views after the sweep: here, or the caller (`run` rebuilds once after
    # all of its multiruns; each rebuild reads every record)
    views: str = "here"
    attach_callback: bool = True      # add StudyCallback when hydra/callbacks=study is missing
    params: Optional[Dict[str, str]] = None   # basic-sweeper compatibility (no study)

    def __post_init__(self) -> None:
        from ..errors import StudyError

        for name, allowed in (("scope", SCOPES), ("stale", STALE), ("views", VIEWS)):
            value = getattr(self, name)
            if value not in allowed:
                raise StudyError(f"hydra.sweeper.{name} must be one of {', '.join(allowed)}, "
                                 f"got '{value}'")
        if self.max_retries is None or int(self.max_retries) < 0:
            raise StudyError(f"hydra.sweeper.max_retries must be >= 0, got {self.max_retries}")
        for name in ("only_hypothesis", "only_condition", "only_sub_experiment", "only_seed",
                     "only_run_id"):
            setattr(self, name, _listish(getattr(self, name)))

    @classmethod
    def from_params(cls, **params: Any) -> "SweepSettings":
        """The settings Hydra passed the sweeper; an unknown key is a one-line error."""
        from ..errors import StudyError, did_you_mean

        known = {f.name for f in dataclasses.fields(cls)} - {"_target_"}
        for key in params:
            if key not in known:
                raise StudyError(f"hydra.sweeper.{key} is not a study sweeper setting"
                                 f"{did_you_mean(key, sorted(known))}")
        return cls(**params)

    @property
    def filters(self):
        from ..plan import Filters

        return Filters.parse(hypothesis=self.only_hypothesis, condition=self.only_condition,
                             sub_experiment=self.only_sub_experiment, seed=self.only_seed,
                             run_id=self.only_run_id)

    def as_overrides(self) -> List[str]:
        """``hydra.sweeper.<field>=<value>`` for every field that differs from its default
        (values quoted for Hydra's override grammar)."""
        from .. import overrides as ov

        return [ov.format_override(f"hydra.sweeper.{f.name}", getattr(self, f.name))
                for f in dataclasses.fields(self)
                if f.name != "_target_" and getattr(self, f.name) != f.default]


def _listish(value: Any) -> Any:
    """A filter value from YAML/OmegaConf (a scalar, a list, a ListConfig) as str or [str]."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if type(value).__name__ == "ListConfig":   # without importing omegaconf here
        return [str(v) for v in value]
    return str(value)
