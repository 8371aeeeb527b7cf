"""``python -m emulator serve`` (empty) or ``python -m emulator demo`` (loads the demo data, trains
aws-user-personalization, aws-sims and aws-popularity-count on it, deploys a campaign for each and
prints their offline metrics and sample recommendations, then loads the ECOMMERCE domain part;
``--no-train`` only loads the data).  The demo's report alone goes to the terminal: the training
jobs' and server's logs go to ``<data-dir>/logs/demo.log`` unless ``--verbose``.

State (dataset groups, models, campaigns, events, S3 objects) is kept in ``--data-dir``
(``PICKS_DATA_DIR``, default ``.picks-data/`` in the repository) and survives restarts; delete that
directory (``make clean-state``) to start empty, or pass ``--ephemeral`` to keep nothing.  A demo
already loaded there is reused, not loaded again.

``python -m emulator tick [--advance-hours H]`` asks the emulator already running at --host/--port to
run the schedules (automatic training and automatic updates) now, after moving its clock H hours
forward (for the rest of that run), and prints what they started."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from demo.console import Terminal, divert_output
from emulator.durable import StateDirectoryInUse
from emulator.journal import JournalError
from emulator.schedules import TICK_PATH
from emulator.server import Emulator, stop_on_sigterm

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / ".picks-data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("serve", "demo", "tick"))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4566")))
    parser.add_argument("--region", default=os.environ.get("PICKS_REGION", "us-east-1"))
    parser.add_argument("--no-train", action="store_true", help="demo: load the data only, train nothing")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="demo: show the server's and training jobs' logs with the report (default: in <data-dir>/logs)",
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("PICKS_DATA_DIR") or str(DEFAULT_DATA_DIR),
        help="where the state lives (default: $PICKS_DATA_DIR, else %(default)s)",
    )
    parser.add_argument(
        "--ephemeral", action="store_true", help="keep the state in memory only: nothing survives"
    )
    parser.add_argument(
        "--advance-hours", type=float, default=0.0, help="tick: move the running emulator's clock first"
    )
    args = parser.parse_args(argv)
    if args.command == "tick":
        return tick(f"http://{args.host}:{args.port}", args.advance_hours * 3600)

    data_dir = None if args.ephemeral else args.data_dir
    # PICKS_DATA_FSYNC=0: no fsync per change (faster writes; a power cut may lose the last ones).
    fsync = os.environ.get("PICKS_DATA_FSYNC", "1").lower() not in ("0", "false", "no", "off")
    emulator = Emulator(args.host, args.port, args.region, data_dir=data_dir, fsync=fsync)
    terminal = Terminal(sys.stdout, sys.stderr)
    if args.command == "demo" and not args.verbose:
        log_path = _demo_log_path(data_dir)
        terminal = divert_output(log_path)
        print(f"logs (training jobs, server): {log_path}; --verbose shows them here", file=terminal.out)
    try:
        emulator.start()
    except (StateDirectoryInUse, JournalError) as error:
        print(f"picks emulator: {error}", file=terminal.err)
        return 1
    stop_on_sigterm()
    try:
        print(
            f"picks emulator listening on {emulator.url} (S3 + Personalize APIs); Ctrl-C stops it.",
            file=terminal.out,
            flush=True,
        )
        if emulator.restored is not None:
            restored = emulator.restored
            print(
                f"state: {data_dir} (restored in {restored.seconds:.2f}s; delete the directory or run "
                "`make clean-state` to start empty)",
                file=terminal.out,
                flush=True,
            )
            for arn in restored.interrupted:
                print(
                    f"  {arn} was running when the server stopped: now CREATE FAILED (create it again)",
                    file=terminal.out,
                    flush=True,
                )
        else:
            print(
                "state: in memory only (--ephemeral): nothing survives a restart",
                file=terminal.out,
                flush=True,
            )
        if args.command == "demo":
            from demo.load import DemoLoadError, load_demo

            try:
                load_demo(
                    emulator.url,
                    region=args.region,
                    train=not args.no_train,
                    reuse=True,
                    ecommerce=not args.no_train,
                    out=terminal.out,
                )
            except DemoLoadError as error:
                # Keep serving what did load: the emulator is still useful, and the reason is printed.
                print(f"demo load failed: {error}", file=terminal.err, flush=True)
            print(
                f"picks emulator serving on {emulator.url}; Ctrl-C stops it.", file=terminal.out, flush=True
            )
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


def _demo_log_path(data_dir: str | None) -> Path:
    """The demo's log: in the state directory, or (with --ephemeral) a temporary file."""
    if data_dir is not None:
        return Path(data_dir) / "logs" / "demo.log"
    return Path(tempfile.gettempdir()) / f"picks-demo-{os.getpid()}.log"


def tick(url: str, advance_s: float) -> int:
    """POST /_picks/schedules/tick to the running emulator; prints its JSON answer."""
    request = urllib.request.Request(
        url + TICK_PATH, data=json.dumps({"advanceSeconds": advance_s}).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - a local URL
            print(response.read().decode(), flush=True)
    except (urllib.error.URLError, OSError) as error:
        print(f"picks emulator: no emulator answered at {url} ({error})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
