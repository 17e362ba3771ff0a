"""Which planned runs the running Hydra app can launch itself.

One Hydra multirun has one task function and one config search path. A study may need
several apps (runner modules, per-condition or per-scenario config paths, exact commands).
The sweeper launches the runs of the app it runs in and hands the others to one multirun
subprocess per app (:mod:`silisocs_study.launch.multirun`), which runs with ``scope=unit``:
exactly the runs of its app.

How the process was started matters: ``--config-path D`` (Hydra) shows as the main config
source; silisocs' runner strips ``--config-path`` and prepends the folder to the search path
itself (a ``file`` source), so both count.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from ..model import Run
from ..plan import COMMAND_APP, app_key

SCOPES = ("auto", "unit", "all")
_OWN_PROVIDERS = ("hydra", "main", "schema")


def current_app_module() -> str | None:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if not name:
        return None
    return name[: -len(".__main__")] if name.endswith(".__main__") else name


class ProcessApp:
    """The app this process is: its module and the config folders it composes from."""

    def __init__(self, module: str | None, config: Any) -> None:
        from omegaconf import OmegaConf

        self.module = module
        self.main_dir: str | None = None
        self.extra_dirs: set[str] = set()
        sources = OmegaConf.select(config, "hydra.runtime.config_sources", default=None) or []
        for source in sources:
            if source.get("schema") != "file" or not source.get("path"):
                continue
            provider = str(source.get("provider") or "")
            path = os.path.realpath(str(source.get("path")))
            if provider == "main":
                self.main_dir = path
            elif provider not in _OWN_PROVIDERS and not provider.startswith("hydra.searchpath"):
                self.extra_dirs.add(path)   # e.g. silisocs' external scenario config folder
        argv = sys.argv[1:]
        self.given_config_path = bool(self.extra_dirs) or any(
            a in ("--config-path", "-cp") or a.startswith(("--config-path=", "-cp="))
            for a in argv)

    def runs(self, run: Run) -> bool:
        """Can this process launch ``run`` (same module, composing from its config path)?"""
        module, config_path = app_key(run)
        if module == COMMAND_APP or self.module == COMMAND_APP:
            return module == self.module
        if module != self.module:
            return False
        if config_path is None:
            return not self.given_config_path
        path = os.path.realpath(config_path)
        return path in self.extra_dirs or path == self.main_dir


def belongs_here(run: Run, app: ProcessApp, scope: str, unit_config_path: str | None) -> bool:
    """auto: runs this process can launch; unit: exactly the runs of the app it was started
    for (by a parent that decided); all: every run (escape hatch, no check)."""
    if scope == "all":
        return True
    if scope == "unit":
        module, config_path = app_key(run)
        return module == app.module and (config_path or "") == (unit_config_path or "")
    return app.runs(run)
