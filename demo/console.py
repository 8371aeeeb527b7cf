"""Keep the demo's report readable: everything but the report goes to a log file.

The emulator's training jobs are subprocesses that print their JSON log lines and metrics, and the
in-process handlers log through Powertools; on the terminal they would be interleaved with the
report.  ``divert_output`` points this process's stdout and stderr, at the file-descriptor level
so subprocesses started later and loggers that already hold ``sys.stdout`` follow, at a log file,
and hands back streams that still reach the terminal, for the report.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Terminal", "divert_output"]


@dataclass(frozen=True)
class Terminal:
    """Where the report goes (``out``) and where errors meant for the user go (``err``)."""

    out: TextIO
    err: TextIO


def divert_output(log_path: Path) -> Terminal:
    """Send fds 1 and 2 to ``log_path`` (appended to) and return streams to the original ones."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = Terminal(
        out=os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8"),
        err=os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8"),
    )
    with log_path.open("a", encoding="utf-8") as log:
        os.dup2(log.fileno(), sys.stdout.fileno())
        os.dup2(log.fileno(), sys.stderr.fileno())
    return terminal
