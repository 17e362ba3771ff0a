"""What a run's ``effective_config.yaml`` declares about probes: types, options, scales, carry-forward.

A declaration beats any heuristic (a 1–10 rating answered "7" looks like a choice), so it is read
from every place silisocs puts it: ``eval|evals|evaluations.probes.probes`` (list or mapping) and
``probes.deployment``. A missing or broken file degrades to inference, reported, never fatal.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .answers import BINARY, CHOICE, FREETEXT, NUMERIC, PROBE_TYPES, parse_number

_CONFIG_ROOTS = ("eval", "evals", "evaluations")


@dataclass
class ProbeConfig:
    """What ``effective_config.yaml`` says about probes (all optional)."""

    declared: dict[str, str] = field(default_factory=dict)
    declared_raw: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)
    hold_last_response: bool = False
    error: str | None = None


def canonical_probe_type(raw: object) -> str | None:
    """Map a declared type (``BinaryProbe``, ``pkg.probes:NumericRatingProbe``, ``likert``) to ours."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    name = re.split(r"[.:]", raw.strip())[-1].lower().replace("_", "").replace("-", "")
    if name in {p.lower() for p in PROBE_TYPES}:
        return next(p for p in PROBE_TYPES if p.lower() == name)
    for words, kind in (
        (("binary", "yesno", "bool"), BINARY),
        (("numeric", "rating", "likert", "scale", "number"), NUMERIC),
        (("choice", "multiple", "categor", "option"), CHOICE),
        (("free", "text", "open"), FREETEXT),
    ):
        if any(w in name for w in words):
            return kind
    return None


def _probe_entries(node: object) -> Iterable[tuple[str | None, Mapping]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(value, Mapping):
                yield str(key), value
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, Mapping):
                yield None, value


def load_probe_config(run_dir: Path) -> ProbeConfig:
    """Read declared probe types/choices and ``hold_last_response``; a broken file is reported, not fatal."""
    cfg = ProbeConfig()
    path = Path(run_dir) / "effective_config.yaml"
    if not path.is_file():
        return cfg
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
    except Exception as exc:  # noqa: BLE001 - any YAML/IO problem degrades to heuristics
        cfg.error = f"{type(exc).__name__}: {exc}"[:300]
        return cfg
    if not isinstance(doc, Mapping):
        return cfg
    blocks = [doc.get(root, {}).get("probes") for root in _CONFIG_ROOTS if isinstance(doc.get(root), Mapping)]
    blocks.append(doc.get("probes"))
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        deployment = block.get("deployment")
        if isinstance(deployment, Mapping) and deployment.get("hold_last_response") is True:
            cfg.hold_last_response = True
        for key, entry in _probe_entries(block.get("probes")):
            data = entry.get("probe_data") if isinstance(entry.get("probe_data"), Mapping) else {}
            name = entry.get("probe_name") or entry.get("name") or data.get("name") or key
            raw_type = entry.get("probe_type") or entry.get("type") or entry.get("_target_")
            if not name:
                continue
            name = str(name)
            kind = canonical_probe_type(raw_type)
            if raw_type is not None:
                cfg.declared_raw[name] = str(raw_type)
            if kind:
                cfg.declared[name] = kind
            options = data.get("choices") or data.get("options") or entry.get("choices") or entry.get("options")
            if isinstance(options, list) and options:
                cfg.choices[name] = [str(o) for o in options if isinstance(o, (str, int, float))]
            lo, hi = (parse_number(data.get(k, entry.get(k))) for k in ("min_value", "max_value"))
            if lo is not None and hi is not None and hi > lo:
                cfg.scales[name] = (lo, hi)
    return cfg
