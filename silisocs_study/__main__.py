"""``python -m silisocs_study`` → the CLI."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
