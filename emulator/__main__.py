"""``python -m emulator serve`` (empty) or ``python -m emulator demo`` (loads the demo data, trains
aws-user-personalization, aws-sims and aws-popularity-count on it, deploys a campaign for each and
prints their offline metrics and sample recommendations; ``--no-train`` only loads the data).

State (dataset groups, models, campaigns, events, S3 objects) is kept in ``--data-dir``
(``PICKS_DATA_DIR``, default ``.picks-data/`` in the repository) and survives restarts; delete that
directory (``make clean-state``) to start empty, or pass ``--ephemeral`` to keep nothing.  A demo
already loaded there is reused, not loaded again."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from emulator.durable import StateDirectoryInUse
from emulator.journal import JournalError
from emulator.server import Emulator, stop_on_sigterm

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / ".picks-data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("serve", "demo"))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4566")))
    parser.add_argument("--region", default=os.environ.get("PICKS_REGION", "us-east-1"))
    parser.add_argument("--no-train", action="store_true", help="demo: load the data only, train nothing")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("PICKS_DATA_DIR") or str(DEFAULT_DATA_DIR),
        help="where the state lives (default: $PICKS_DATA_DIR, else %(default)s)",
    )
    parser.add_argument(
        "--ephemeral", action="store_true", help="keep the state in memory only: nothing survives"
    )
    args = parser.parse_args(argv)

    data_dir = None if args.ephemeral else args.data_dir
    # PICKS_DATA_FSYNC=0: no fsync per change (faster writes; a power cut may lose the last ones).
    fsync = os.environ.get("PICKS_DATA_FSYNC", "1").lower() not in ("0", "false", "no", "off")
    emulator = Emulator(args.host, args.port, args.region, data_dir=data_dir, fsync=fsync)
    try:
        emulator.start()
    except (StateDirectoryInUse, JournalError) as error:
        print(f"picks emulator: {error}", file=sys.stderr)
        return 1
    stop_on_sigterm()
    try:
        print(
            f"picks emulator listening on {emulator.url} (S3 + Personalize APIs); Ctrl-C stops it.",
            flush=True,
        )
        if emulator.restored is not None:
            restored = emulator.restored
            print(
                f"state: {data_dir} (restored in {restored.seconds:.2f}s; delete the directory or run "
                "`make clean-state` to start empty)",
                flush=True,
            )
            for arn in restored.interrupted:
                print(
                    f"  {arn} was running when the server stopped: now CREATE FAILED (create it again)",
                    flush=True,
                )
        else:
            print("state: in memory only (--ephemeral): nothing survives a restart", flush=True)
        if args.command == "demo":
            from demo.load import DemoLoadError, load_demo

            try:
                load_demo(emulator.url, region=args.region, train=not args.no_train, reuse=True)
            except DemoLoadError as error:
                # Keep serving what did load: the emulator is still useful, and the reason is printed.
                print(f"demo load failed: {error}", file=sys.stderr, flush=True)
            print(f"picks emulator serving on {emulator.url}; Ctrl-C stops it.", flush=True)
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
