"""Organized tree, statistics and reports (study.yaml and experiment specs)."""
