"""``StudySweeper``: a thin Hydra plugin class over silisocs_study.launch.sweep."""
from __future__ import annotations

import logging
import sys
from typing import Any, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from .config import StudySweeperConf  # noqa: F401  (registers the configs)

log = logging.getLogger(__name__)


class StudySweeper(Sweeper):
    def __init__(self, study: Optional[str] = None, **params: Any) -> None:
        self.study = study
        self.params = params
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.launcher: Any = None
        self._basic: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        if self.study is None:
            from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

            self._basic = BasicSweeper(max_batch_size=self.params.get("max_batch_size"),
                                       params=self.params.get("params"))
            self._basic.setup(hydra_context=hydra_context, task_function=task_function,
                              config=config)
            self.launcher = self._basic.launcher
            return
        from hydra.core.plugins import Plugins

        if self.params.get("attach_callback", True):
            _attach_callback(hydra_context)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        if self._basic is not None:
            return self._basic.sweep(arguments)
        from silisocs_study.errors import StudyError, as_storage_error
        from silisocs_study.launch.sweep import StudySweep, SweepSettings

        try:
            settings = SweepSettings.from_params(study=self.study, **self.params)
            sweep = StudySweep(settings, config=self.config, hydra_context=self.hydra_context,
                               launcher=self.launcher, validate_fn=self.validate_batch_is_legal)
            return sweep.run(arguments)
        except (StudyError, OSError) as exc:
            error = exc if isinstance(exc, StudyError) else as_storage_error(exc)
            if error is None:   # not the user's kind of failure: a real bug, shown as one
                raise
            print(f"error: {error.format()}", file=sys.stderr)
            sys.stderr.flush()
            raise SystemExit(error.exit_code) from None


def _attach_callback(hydra_context: HydraContext) -> None:
    """Add StudyCallback unless the app already enabled it (hydra/callbacks=study)."""
    from silisocs_study.callbacks import StudyCallback

    holder = getattr(hydra_context, "callbacks", None)
    callbacks = getattr(holder, "callbacks", None)
    if callbacks is None or any(isinstance(c, StudyCallback) for c in callbacks):
        return
    callbacks.append(StudyCallback())
