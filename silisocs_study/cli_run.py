"""Verbs that execute studies (added by the run, report and HPC issues)."""
from __future__ import annotations


def add_run_verbs(sub, add_common, add_filters) -> None:
    """Register run/status/organize/... parsers; none yet."""
    return None
