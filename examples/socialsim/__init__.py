"""Deterministic agent-based social-network simulation used as a fast Hydra test app."""
