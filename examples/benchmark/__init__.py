"""Deterministic mutualism-ecology agent benchmark used as a fast Hydra test app."""
