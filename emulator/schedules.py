"""The declared schedules, run locally: what EventBridge Scheduler does on AWS.

``ScheduleTicker`` invokes each schedule's function (``picks.workflows.declaration.SCHEDULES``) with
its payload on its rate, in a background thread, through the same Lambda handler; ``tick`` runs one
at once.  Whether anything is due is decided by the layer (``picks.workflows.schedules``) on the
emulator's ``AdjustableClock``: tests, the admin endpoint (``POST /_picks/schedules/tick``) and
``python -m emulator tick`` move it forward instead of waiting hours.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from picks import services as picks_services
from picks.domain.resources import SOLUTION_VERSION_KIND
from picks.observability import logger
from picks.workflows.declaration import SCHEDULES

if TYPE_CHECKING:
    from collections.abc import Callable


class AdjustableClock:
    """Wall-clock time plus an offset that only grows (time never runs backwards for the stored
    records); ``Services.clock`` of the emulator."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward; returns the new time."""
        if not seconds >= 0:
            raise ValueError(f"advance: {seconds!r} is not a number of seconds >= 0")
        with self._lock:
            self._offset += seconds
        return self()


class ScheduleTicker:
    """Runs the declared schedules: every ``interval_s`` (default: each schedule's own rate; 0 or
    less: only when ``tick`` is called)."""

    def __init__(self, invoke: Callable[[str, dict[str, Any]], Any], interval_s: float | None = None) -> None:
        self._invoke = invoke
        rates = [schedule.every_minutes * 60.0 for schedule in SCHEDULES]
        self.interval_s = interval_s if interval_s is not None else min(rates, default=0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One tick at a time here (the layer is idempotent anyway: this keeps a tick's report whole).
        self._ticking = threading.Lock()

    def tick(self) -> list[dict[str, str]]:
        """Invoke every schedule's function once, now; returns what they started
        (``{"kind": "training" | "update", "solutionVersionArn": ...}``)."""
        with self._ticking:
            results = [self._invoke(schedule.function, schedule.payload()) for schedule in SCHEDULES]
        return [item for result in results for item in (result or {}).get("started", [])]

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, daemon=True, name="schedules")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - logged like a failed scheduled invocation; the next one runs
                logger.exception("scheduled tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None


ADMIN_PREFIX = "/_picks/"
TICK_PATH = "/_picks/schedules/tick"
UPDATES_PATH = "/_picks/solution-version-updates"


def admin_response(
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes,
    *,
    clock: AdjustableClock,
    ticker: ScheduleTicker,
) -> tuple[int, dict[str, Any]]:
    """The emulator's own endpoints (local only, unsigned; no AWS API has them):

    * ``POST /_picks/schedules/tick`` with an optional JSON body ``{"advanceSeconds": N}``: move the
      clock N seconds forward (for the rest of this run), then run every schedule once.
    * ``GET /_picks/solution-version-updates?solutionVersionArn=<arn>``: the version's automatic
      update history and the model it serves (picks' private state; Describe has no member for it).
    """
    if method == "POST" and path == TICK_PATH:
        try:
            advance = float((json.loads(body or b"{}") or {}).get("advanceSeconds", 0))
            clock.advance(advance)
        except (ValueError, TypeError, AttributeError) as error:
            return 400, {"__type": "InvalidInputException", "message": f"advanceSeconds: {error}"[:200]}
        started = ticker.tick()
        return 200, {"now": clock(), "clockOffsetSeconds": clock.offset, "started": started}
    if method == "GET" and path == UPDATES_PATH:
        return _updates(query.get("solutionVersionArn", ""))
    return 404, {
        "__type": "ResourceNotFoundException",
        "message": f"no emulator endpoint {method} {path}"[:200],
    }


def _updates(arn: str) -> tuple[int, dict[str, Any]]:
    version = picks_services.get_services().resources.find(arn) if arn else None
    if version is None or version.kind != SOLUTION_VERSION_KIND:
        return 404, {"__type": "ResourceNotFoundException", "message": "solutionVersionArn: no such version"}
    state = version.version_state
    return 200, {
        "solutionVersionArn": version.arn,
        "modelPrefix": state.model.prefix if state.model else None,
        "updates": [update.to_json() for update in state.updates],
    }
