"""silisocs-study: plan, run, record, evaluate and report studies of Hydra runs."""
__version__ = "0.1.0"
