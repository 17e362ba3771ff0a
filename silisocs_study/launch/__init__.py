"""Launching runs: resume decisions, the sweeper core, exact-command jobs, the CLI `run`."""
