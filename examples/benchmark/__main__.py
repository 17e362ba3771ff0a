"""Hydra entry point: ``python -m examples.benchmark [overrides]``; writes result.json."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .game import play


def _atomic_write(path: Path, text: str) -> None:
    """Temp file in the same directory + os.replace: readers never see a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> dict[str, Any]:
    """Play one game and write ``effective_config.yaml`` then ``result.json`` (the done marker)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(config, dict)
    out = Path(config.get("output_dir") or HydraConfig.get().runtime.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "effective_config.yaml", yaml.safe_dump(config, sort_keys=False))
    result = play(config)
    _atomic_write(out / "result.json", json.dumps(result, indent=2) + "\n")
    return {"output_dir": str(out), "success": result["success"], **result["scores"]}


if __name__ == "__main__":
    main()
