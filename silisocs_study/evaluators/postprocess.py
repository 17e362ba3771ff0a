"""User postprocessor hooks for probe evaluators, and one shipped example.

A hook is ``module.path:function`` or ``path/to/file.py:function`` (``:postprocess`` when the
function is omitted), called as ``fn(records_by_type, out_dir, context)``. Whatever happens inside
is recorded in ``plots.extensions[]``; a failing hook never fails the evaluator, because a broken
custom plot must not cost a study its metrics.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson

DEFAULT_FUNCTION = "postprocess"
RecordsByType = Mapping[str, list[dict]]


def split_spec(spec: str) -> tuple[str, str]:
    """``'pkg.mod:fn'`` → ``('pkg.mod', 'fn')``; a Windows drive colon is not a separator."""
    target, sep, func = spec.rpartition(":")
    if not sep or not target or "/" in func or "\\" in func or (len(target) == 1 and target.isalpha()):
        return spec, DEFAULT_FUNCTION
    return target, func or DEFAULT_FUNCTION


def load_postprocessor(spec: str, cwd: Path) -> Callable:
    """Import the hook's module (dotted name or .py file relative to ``cwd``) and return the function."""
    target, func_name = split_spec(spec.strip())
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            raise FileNotFoundError(f"postprocessor file not found: {path}")
        mod_name = f"_silisocs_postprocessor_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load postprocessor file: {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise AttributeError(f"{target} has no callable {func_name!r}")
    return func


def _json_safe(value: object) -> object:
    """Round-trip through JSON so a hook's result can always be stored (Paths → text, etc.)."""
    try:
        return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)[:2000]


def _generated(result: object) -> list[str]:
    if isinstance(result, Mapping):
        files = result.get("generated_files") or []
        return [str(f) for f in files] if isinstance(files, (list, tuple)) else [str(files)]
    if isinstance(result, (list, tuple)):
        return [str(f) for f in result]
    return []


def run_postprocessors(
    specs: tuple[str, ...] | list[str],
    records_by_type: RecordsByType,
    out_dir: Path,
    context: Mapping[str, object],
    cwd: Path,
) -> list[dict[str, object]]:
    """Run each hook in order; one ``{postprocessor, status, generated_files, result|error}`` per hook."""
    entries: list[dict[str, object]] = []
    for spec in specs:
        entry: dict[str, object] = {"postprocessor": spec, "status": "failed", "generated_files": []}
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            func = load_postprocessor(spec, cwd)
            result = func(records_by_type, out_dir, dict(context))
            entry["status"] = "success"
            entry["generated_files"] = _generated(result)
            entry["result"] = _json_safe(result)
        except BaseException as exc:  # noqa: BLE001 - includes SystemExit from a careless hook
            if isinstance(exc, KeyboardInterrupt):
                raise
            entry["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            entry["traceback_tail"] = traceback.format_exc().strip().splitlines()[-6:]
        entries.append(entry)
    return entries


def episode_probe_volume(records_by_type: RecordsByType, out_dir: Path, context: Mapping[str, object]) -> dict:
    """Example hook: how many answers of each kind arrived per episode (``probe_volume_over_time.png``)."""
    from collections import Counter

    from .payload import first_seen_episode_key
    from .plots import episode_axis, new_figure, save_figure

    kinds = {"choice": "Choice / yes-no answers", "numeric": "Numeric answers", "freetext": "Free-text answers"}
    per_kind = {k: Counter(r.get("episode") for r in records_by_type.get(k, [])) for k in kinds}
    seen = [r.get("episode") for k in kinds for r in records_by_type.get(k, [])]
    episodes = sorted({e for c in per_kind.values() for e in c}, key=first_seen_episode_key(seen))
    fig, ax = new_figure()
    xs = episode_axis(ax, episodes)
    for kind, title in kinds.items():
        if per_kind[kind]:
            ax.plot(xs, [per_kind[kind].get(e, 0) for e in episodes], marker="o" if len(xs) <= 40 else None,
                    markersize=4, linewidth=1.8, label=title)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Answers recorded in the episode")
    ax.set_title("Probe answers per episode, by answer kind", fontsize=11)
    if any(per_kind.values()):
        ax.legend(loc="best", frameon=False)
    path = save_figure(fig, Path(out_dir) / "probe_volume_over_time.png")
    return {"generated_files": [path], "episodes": len(episodes),
            "records": {k: sum(c.values()) for k, c in per_kind.items()}}
