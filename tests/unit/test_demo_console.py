"""demo.console.divert_output: the demo's report alone on the terminal, every other line (this
process's prints and logs, and its subprocesses' output, such as training jobs) in the log file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import logging, subprocess, sys
    from pathlib import Path
    from demo.console import divert_output

    logger = logging.getLogger("early")
    logger.addHandler(logging.StreamHandler(sys.stdout))  # a logger holding sys.stdout from before
    terminal = divert_output(Path(sys.argv[1]))
    print("report line", file=terminal.out)
    print("error for the user", file=terminal.err)
    print("a JSON log line")
    logger.warning("a warning")
    print("stderr noise", file=sys.stderr)
    subprocess.run([sys.executable, "-c", "print('training job metrics')"], check=True)
    """
)


def test_only_the_report_reaches_the_terminal(tmp_path):
    log = tmp_path / "logs" / "demo.log"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "report line\n"
    assert result.stderr == "error for the user\n"
    logged = log.read_text().splitlines()
    assert sorted(logged) == sorted(["a JSON log line", "a warning", "stderr noise", "training job metrics"])
