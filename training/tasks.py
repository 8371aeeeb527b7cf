"""How a batch job's task ends under the SageMaker contract (``training/train.py`` dispatches to it):
its summary line on success; on failure a one-line reason in ``SM_OUTPUT_DIR/failure``, which
SageMaker reports as the job's FailureReason and the workflow's RecordFailure step shows the user,
and a non-zero exit (1: the input's fault, 2: picks' own)."""

from __future__ import annotations

import json
import sys
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

MAX_REASON = 1000  # DescribeTrainingJob's FailureReason holds at most 1024 characters


def run_task(
    what: str,
    done_key: str,
    run: Callable[[Path, Path], dict[str, Any]],
    expected: type[Exception],
    channel: Path,
    model_dir: Path,
    output_dir: Path,
) -> int:
    """``run(channel, model_dir)``; an ``expected`` error's message is the reason as it is, anything
    else ``Internal <what> error: ...`` with its traceback in the log."""
    try:
        summary = run(channel, model_dir)
        print(json.dumps({**summary, done_key: "done"}), flush=True)
        return 0
    except expected as error:
        reason, code = str(error), 1
    except Exception as error:  # noqa: BLE001 - any crash must still leave a reason for the job
        traceback.print_exc()
        reason, code = f"Internal {what} error: {type(error).__name__}: {error}", 2
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "failure").write_text(reason[:MAX_REASON])
    print(f"{what} failed: {reason}", file=sys.stderr, flush=True)
    return code
