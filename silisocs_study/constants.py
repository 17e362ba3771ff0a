"""Names every layer may use (kept out of the package ``__init__``, which imports nothing)."""
from functools import lru_cache

#: the console script; silisocs' own study runner owns "silisocs-study", so ours has its own
COMMAND = "silisocs-sweep"

#: the name in the ``generator`` marker of every file we write (records, views, plan.json)
GENERATOR_NAME = "silisocs-study"


@lru_cache(maxsize=1)   # an importlib.metadata search costs 3-20 ms
def generator() -> str:
    """The marker our generated files carry (``generator`` key, first in the file)."""
    from importlib import metadata

    try:
        return f"{GENERATOR_NAME} {metadata.version(GENERATOR_NAME)}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return GENERATOR_NAME
