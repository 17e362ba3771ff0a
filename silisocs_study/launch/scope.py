"""Which planned runs the running Hydra app can launch.

A study may mix runner modules, per-condition config paths and exact commands; one Hydra
multirun has one task function and one primary config directory. The sweeper launches the
runs that belong to the current app and reports the rest (``silisocs-sweep run`` starts one
multirun per runner/config path, and exact commands through the built-in command app).
"""
from __future__ import annotations

import os
import sys
from typing import Any

from ..model import Run

COMMAND_APP = "silisocs_study.launch.command_app"


def current_app_module() -> str | None:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if not name:
        return None
    return name[: -len(".__main__")] if name.endswith(".__main__") else name


def primary_config_dir(config: Any) -> str | None:
    from omegaconf import OmegaConf

    sources = OmegaConf.select(config, "hydra.runtime.config_sources", default=None) or []
    for source in sources:
        if source.get("provider") in ("main", "command-line") and \
                source.get("schema") == "file":
            return os.path.realpath(source.get("path"))
    return None


def run_key(run: Run) -> tuple[str, str | None]:
    """(app module, config path) that must run ``run``."""
    if run.command is not None:
        return COMMAND_APP, None
    return run.group.runner_module or "", run.config_path


def belongs_here(run: Run, app: str | None, config_dir: str | None, scope: str) -> bool:
    module, cfg = run_key(run)
    if app == COMMAND_APP or module == COMMAND_APP:
        return app == module
    if scope == "all":
        return True
    if app is not None and module != app:
        return False
    if cfg is not None and config_dir is not None and os.path.realpath(cfg) != config_dir:
        return False
    return True
