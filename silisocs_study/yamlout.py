"""Writing YAML for people: authored documents and generated views, one dumper for all."""
from __future__ import annotations

from typing import Any


def plain(obj: Any) -> Any:
    """Only YAML-safe types: tuples become lists, ``!ref`` values their ``!ref NAME`` text."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    name = getattr(obj, "name", None)
    return f"!ref {name}" if name is not None else str(obj)


def dump_yaml(obj: Any, *, flow: bool | None = False, width: int = 100) -> str:
    """Block-style YAML in the document's key order (C dumper when available)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(plain(obj), Dumper=dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=flow, width=width)
