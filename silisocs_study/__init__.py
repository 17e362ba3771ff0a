"""silisocs-study: plan, run, record, evaluate and report studies of Hydra runs.

``silisocs_study.run(...)``, ``silisocs_study.load(...)``, ``silisocs_study.analyze(...)`` and
``silisocs_study.re_evaluate(...)`` (see :mod:`silisocs_study.api`) are imported on first use,
so ``import silisocs_study`` stays light.
"""
__version__ = "0.1.0"
from .constants import COMMAND as COMMAND  # noqa: E402 - the console script's name
__all__ = ["run", "load", "analyze", "re_evaluate", "__version__"]


def __getattr__(name: str):
    if name in ("run", "load", "analyze", "re_evaluate"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
