"""``python -m tests.apps.noop [overrides]``: does (almost) nothing, fast.

``fail``: none | raise | exit (os._exit(3)) ; ``sleep``: seconds to sleep first;
``fail_if_exists``: raise while that file exists (a transient failure for retry tests);
``output_dir``: when set, write ``result.json`` there.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import hydra


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg) -> int:
    if cfg.sleep:
        time.sleep(float(cfg.sleep))
    if cfg.fail == "raise":
        raise RuntimeError("noop: injected failure")
    if cfg.fail == "exit":
        os._exit(3)
    if cfg.fail_if_exists and Path(cfg.fail_if_exists).exists():
        raise RuntimeError(f"noop: {cfg.fail_if_exists} exists")
    if cfg.output_dir:
        out = Path(cfg.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps({"seed": cfg.seed, "x": cfg.x}))
    return 0


if __name__ == "__main__":
    main()
