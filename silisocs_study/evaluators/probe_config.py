"""What a run's ``effective_config.yaml`` declares about probes: types, options, scales, carry-forward.

A declaration beats any heuristic (a 1–10 rating answered "7" looks like a choice). silisocs'
own reading comes first: under the first of ``eval``/``evals``/``evaluations`` that exists, each
entry of ``probes.probes`` declares its ``probe_type`` (as written) for its ``probe_name`` and its
``probe_data.name``, and ``probes.deployment.hold_last_response`` turns carry-forward on. We also
read what silisocs does not (entry names or mapping keys, ``type``/``_target_``, aliases such as
``likert``, a top-level ``probes`` block), but only for labels silisocs leaves undeclared.
A missing or broken file degrades to inference, reported, never fatal.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .answers import BINARY, CHOICE, FREETEXT, NUMERIC, PROBE_TYPES, parse_number
from .compat import INFERRED
from .payload import slugify

_CONFIG_ROOTS = ("eval", "evals", "evaluations")


@dataclass
class ProbeConfig:
    """What ``effective_config.yaml`` says about probes (all optional)."""

    declared: dict[str, str] = field(default_factory=dict)
    declared_raw: dict[str, str] = field(default_factory=dict)
    silisocs_types: dict[str, str] = field(default_factory=dict)  # silisocs' own label → type map
    choices: dict[str, list[str]] = field(default_factory=dict)
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)
    hold_last_response: bool = False
    error: str | None = None

    def row_type(self, label: str) -> str | None:
        """The declared type of a label's rows: silisocs' declaration as written (a known type or
        an opaque custom one), else ours (canonical), else None (typed per answer)."""
        if label in self.silisocs_types:
            return self.silisocs_types[label]
        kind = self.declared.get(label) or self._by_slug().get(slugify(label))
        return kind or self.declared_raw.get(label)

    def _by_slug(self) -> dict[str, str]:
        return {slugify(name): kind for name, kind in self.declared.items()}

    def reported_type(self, label: str) -> str:
        """``probe_type`` as silisocs reports it: its declared type, else ``inferred``."""
        return self.silisocs_types.get(label) or INFERRED


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
    _read_silisocs_view(doc, cfg)
    blocks = [doc.get(root, {}).get("probes") for root in _CONFIG_ROOTS if isinstance(doc.get(root), Mapping)]
    blocks.append(doc.get("probes"))
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        deployment = block.get("deployment")
        if isinstance(deployment, Mapping) and deployment.get("hold_last_response") is True:
            cfg.hold_last_response = True
        for key, entry in _probe_entries(block.get("probes")):
            probe_data = entry.get("probe_data")
            data = probe_data if isinstance(probe_data, Mapping) else {}
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
            for keys in (("min_value", "max_value"), ("lo", "hi")):
                lo, hi = (parse_number(data.get(k, entry.get(k))) for k in keys)
                if lo is not None and hi is not None and hi > lo:
                    cfg.scales.setdefault(name, (lo, hi))
    return cfg


def _read_silisocs_view(doc: Mapping, cfg: ProbeConfig) -> None:
    """Types and carry-forward exactly as silisocs' evaluators read them from the config."""
    present = [root for root in _CONFIG_ROOTS if root in doc]
    block = doc.get(present[0]) if present else None
    probes = block.get("probes") if isinstance(block, Mapping) else None
    if not isinstance(probes, Mapping):
        return
    deployment = probes.get("deployment")
    if isinstance(deployment, Mapping) and deployment.get("hold_last_response", False):
        cfg.hold_last_response = True
    raw = probes.get("probes")
    items = list(raw.values()) if isinstance(raw, Mapping) else list(raw) if isinstance(raw, list) else []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind = str(item.get("probe_type") or "Unknown")
        probe_data = item.get("probe_data")
        data = probe_data if isinstance(probe_data, Mapping) else {}
        for name in (item.get("probe_name"), data.get("name")):
            if name:
                cfg.silisocs_types[str(name)] = kind
