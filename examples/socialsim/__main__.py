"""Hydra entry point: ``python -m examples.socialsim [overrides]``."""

from __future__ import annotations

from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .writer import execute


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> dict[str, Any]:
    """Resolve the config once, pick the run dir, and hand plain data to the writer."""
    config = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(config, dict)
    output_dir = config.get("output_dir") or HydraConfig.get().runtime.output_dir
    return execute(config, output_dir)


if __name__ == "__main__":
    main()
