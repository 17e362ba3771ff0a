"""A tiny no-op Hydra app for sweeper/ledger tests and the overhead benchmark."""
