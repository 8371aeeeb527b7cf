"""``python -m emulator serve`` (empty) or ``python -m emulator demo`` (loads the demo data, trains
aws-user-personalization, aws-sims and aws-popularity-count on it, deploys a campaign for each and
prints their offline metrics and sample recommendations; ``--no-train`` only loads the data)."""
from __future__ import annotations

import argparse
import os
import sys

from emulator.server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("command", choices=("serve", "demo"))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4566")))
    parser.add_argument("--region", default=os.environ.get("PICKS_REGION", "us-east-1"))
    parser.add_argument("--no-train", action="store_true", help="demo: load the data only, train nothing")
    args = parser.parse_args(argv)

    emulator = Emulator(args.host, args.port, args.region).start()
    print(f"picks emulator listening on {emulator.url} (S3 + Personalize APIs); Ctrl-C stops it.", flush=True)
    if args.command == "demo":
        from demo.load import DemoLoadError, load_demo

        try:
            load_demo(emulator.url, region=args.region, train=not args.no_train)
        except DemoLoadError as error:
            # Keep serving what did load: the emulator is still useful, and the reason is printed.
            print(f"demo load failed: {error}", file=sys.stderr, flush=True)
        print(f"picks emulator serving on {emulator.url}; Ctrl-C stops it.", flush=True)
    emulator.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
