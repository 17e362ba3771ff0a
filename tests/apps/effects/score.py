"""``python -m tests.apps.effects.score --run-dir D --output F``: the run's y as a metric."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    y = json.loads((Path(args.run_dir) / "metrics.json").read_text())["y"]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"aggregated": {"y": y}}))


if __name__ == "__main__":
    main()
