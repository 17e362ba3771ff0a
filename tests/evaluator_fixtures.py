"""Build small run directories that follow the run-directory contract, for evaluator tests.

Rows look like what the example simulations write: ``event_type``, ``label``, ``source_user``,
``episode``, ``event_index`` and a ``data`` object (probe answers in ``data.probe_return``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path


def action(label: str, user: str, episode: int, index: int, **data: object) -> dict:
    """One action event; ``data`` defaults to something plausible for the label."""
    if not data:
        if label in ("post", "reply"):
            data = {"content": f"{user} says something about episode {episode}"}
        elif label in ("follow", "unfollow"):
            data = {"target_user": "agent_x"}
        else:
            data = {"target_post_id": f"p{index}"}
    return {"event_type": "action", "label": label, "source_user": user, "episode": episode,
            "event_index": index, "timestamp": f"2025-01-01T00:00:{index % 60:02d}Z", "data": data}


def probe(label: str, user: str, episode: int, index: int, answer: object, mode: str = "scheduled") -> dict:
    """One probe event with its answer in ``data.probe_return``."""
    return {"event_type": "probe", "label": label, "source_user": user, "episode": episode,
            "event_index": index, "data": {"probe_return": answer, "probe_mode": mode,
                                           "question": f"Question for {label}?"}}


def write_jsonl(path: Path, rows: Iterable[object], raw_lines: Mapping[int, str] | None = None) -> Path:
    """Write rows as JSON lines (``json.dumps`` style); ``raw_lines`` puts literal lines at 0-based indices."""
    lines = [json.dumps(r) for r in rows]
    for pos, text in sorted((raw_lines or {}).items()):  # ascending: each ends up at its index
        lines.insert(pos, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path


def probe_config_yaml(probes: Iterable[tuple[str, str]], style: str = "list", root: str = "eval",
                      hold_last_response: bool = False, choices: Mapping[str, list[str]] | None = None) -> str:
    """An effective_config.yaml declaring probe types, in the list or dict style silisocs uses."""
    choices = choices or {}
    out = ["seed: 1", "sim:", "  num_agents: 3", f"{root}:", "  probes:", "    deployment:",
           f"      hold_last_response: {'true' if hold_last_response else 'false'}", "    probes:"]
    for name, kind in probes:
        opts = choices.get(name)
        if style == "list":
            out += [f"      - probe_type: {kind}", "        probe_data:", f"          name: {name}"]
            if opts:
                out.append(f"          choices: [{', '.join(opts)}]")
        else:
            out += [f"      {name}:", f"        probe_type: silisocs.probes.{kind}"]
            if opts:
                out.append(f"        choices: [{', '.join(opts)}]")
    return "\n".join(out) + "\n"


def make_run(root: Path, actions: Iterable[dict] = (), probes: Iterable[dict] | None = None,
             game_masters: Mapping[str, Iterable[dict]] | None = None, config: str | None = None,
             num_agents: int | None = None) -> Path:
    """A run dir: root-level action/probe files, optional ``gm_*/action_events.jsonl`` and config."""
    root.mkdir(parents=True, exist_ok=True)
    actions = list(actions)
    if actions:
        write_jsonl(root / "action_events.jsonl", actions)
    for gm, rows in (game_masters or {}).items():
        write_jsonl(root / gm / "action_events.jsonl", rows)
    if probes is not None:
        write_jsonl(root / "probe_events.jsonl", probes)
    if config is not None:
        (root / "effective_config.yaml").write_text(config, encoding="utf-8")
    manifest = {"schema_version": 1, "status": "success", "scenario": "test", "seed": 1}
    if num_agents is not None:
        manifest["num_agents"] = num_agents
    (root / "run_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    data = path.read_bytes()[:32]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def assert_real_png(path: Path, min_side: int = 200) -> None:
    """A valid PNG, large enough, that decodes to an image with more than one colour."""
    import numpy as np
    from matplotlib import image

    width, height = png_size(path)
    assert width > min_side and height > min_side, (path, width, height)
    pixels = image.imread(str(path))
    assert pixels.shape[0] == height and pixels.shape[1] == width
    rgba = np.ascontiguousarray((pixels * 255).round().astype(np.uint8))
    if rgba.shape[-1] == 3:
        rgba = np.concatenate([rgba, np.full(rgba.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    colours = np.unique(rgba.view(np.uint32).ravel())
    assert len(colours) > 20, f"{path} looks blank ({len(colours)} colours)"
    assert np.ptp(rgba[..., :3]) > 50, f"{path} has no contrast"
