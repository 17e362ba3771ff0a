"""Structured configs: ``hydra/sweeper=study`` and ``hydra/callbacks=study``.

Imported by Hydra's plugin scan at every start-up, so it imports nothing heavy.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

from silisocs_study.launch.settings import SweepSettings


#: ``hydra/sweeper=study``: the sweeper's settings dataclass itself (one field list)
StudySweeperConf = SweepSettings


@dataclass
class StudyCallbackConf:
    _target_: str = "silisocs_study.callbacks.StudyCallback"
    rebuild_views: bool = True


cs = ConfigStore.instance()
cs.store(group="hydra/sweeper", name="study", node=StudySweeperConf, provider="silisocs_study")
cs.store(group="hydra/callbacks", name="study", node={"study": StudyCallbackConf},
         provider="silisocs_study")
