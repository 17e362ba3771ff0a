"""Parse each Hydra config file once per process, not once per job.

Why: Hydra composes every job's config from scratch, and most of that time is YAML parsing in
OmegaConf's pure-Python loader — for silisocs' runner (17 files) about 0.5 s of a 0.6 s
composition, paid again for every job and every validation. A sweep composes the same files
many times in one process (the basic launcher; a reused joblib worker), so the parsed data is
kept per file (keyed by real path, mtime and size: an edited file is read again) and every
composition gets a fresh config built from it. Hydra's own logic (defaults lists, package
headers, overrides) is untouched: each load still returns a new ``ConfigResult``.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Callable

_MEMO: dict[tuple, tuple] = {}
_MARK = "_silisocs_memo"


def install() -> None:
    """Memoize file:// and pkg:// config sources in this process (idempotent)."""
    from hydra._internal.core_plugins.file_config_source import FileConfigSource
    from hydra._internal.core_plugins.importlib_resources_config_source import (
        ImportlibResourcesConfigSource)

    _wrap(FileConfigSource, _file_key)
    _wrap(ImportlibResourcesConfigSource, _package_key)


def _file_key(source: Any, config_path: str) -> tuple | None:
    name = source._normalize_file_name(config_path)
    full = os.path.realpath(os.path.join(source.path, name))
    try:
        st = os.stat(full)
    except OSError:
        return None   # the original raises the proper ConfigLoadError
    return ("file", full, st.st_mtime_ns, st.st_size)


def _package_key(source: Any, config_path: str) -> tuple | None:
    return ("pkg", source.path, source._normalize_file_name(config_path))


# cls: one of Hydra's ConfigSource classes (Hydra is untyped); its load_config is replaced
def _wrap(cls: Any, key_of: Callable[[Any, str], tuple | None]) -> None:
    original = cls.load_config
    if getattr(original, _MARK, False):
        return

    def load_config(self, config_path: str):
        from hydra.plugins.config_source import ConfigResult
        from omegaconf import OmegaConf

        key = key_of(self, config_path)
        hit = _MEMO.get(key) if key is not None else None
        if hit is None:
            result = original(self, config_path)
            if key is not None:
                _MEMO[key] = (result.path, result.provider, dict(result.header),
                              result.is_schema_source,
                              OmegaConf.to_container(result.config, resolve=False))
            return result
        path, provider, header, schema, data = hit
        return ConfigResult(config=OmegaConf.create(copy.deepcopy(data)), path=path,
                            provider=provider, header=dict(header), is_schema_source=schema)

    setattr(load_config, _MARK, True)
    cls.load_config = load_config
