"""``python -m emulator.orphan_guard <parent pid> <module> [args]``: run ``python -m <module>``
in a subprocess that never outlives the process that started the guard.

The emulator runs training jobs as subprocesses (``emulator.training_jobs``).  Stopped
gracefully it ends them itself; killed (``kill -9``, a crash, a closed terminal) it cannot, and a
job left behind would keep cores busy for minutes, writing into a server that is gone.  The guard
leads the job's process group and waits; when its parent dies it kills the whole group (the job
and anything the job started).  On Linux the kernel tells it at once (``PR_SET_PDEATHSIG``);
elsewhere a thread polls the parent.  SIGTERM (the emulator stopping, or StopSolutionVersionCreation)
also ends the group.  The guard's exit status is the job's.  SageMaker runs ``training.train``
directly; only the emulator uses this.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


def _end_group(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
    try:
        os.killpg(os.getpgid(0), signal.SIGKILL)  # the guard included
    except OSError:
        os._exit(128 + signal.SIGKILL)


def _parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the polling thread still covers it


def _poll_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    _end_group()


def main(argv: list[str]) -> int:
    parent, module = int(argv[0]), argv[1]
    signal.signal(signal.SIGTERM, _end_group)
    _parent_death_signal()
    if os.getppid() != parent:  # the parent died before the guard was in place
        _end_group()
    threading.Thread(target=_poll_parent, args=(parent,), name="orphan-guard", daemon=True).start()
    job = subprocess.Popen([sys.executable, "-m", module, *argv[2:]])
    code = job.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
