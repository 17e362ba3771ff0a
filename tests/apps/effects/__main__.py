"""``python -m tests.apps.effects``: one seed of the synthetic study (known effects).

Writes ``metrics.json`` ({"y": value}) into ``output_dir``; ``tests.apps.effects.score`` is
its evaluator. The effect of each condition is set by the study's overrides.
"""
from __future__ import annotations

import json
from pathlib import Path

import hydra

from .model import value


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg) -> int:
    y = value(float(cfg.effect), int(cfg.seed), str(cfg.scenario), str(cfg.arm),
              noise=float(cfg.noise), common=float(cfg.common))
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"y": y, "seed": cfg.seed}))
    return 0


if __name__ == "__main__":
    main()
