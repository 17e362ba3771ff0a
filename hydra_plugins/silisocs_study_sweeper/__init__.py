"""Hydra sweeper plugin ``hydra/sweeper=study`` (thin: the core lives in silisocs_study)."""
