"""Polling a Personalize resource until its status settles: the one helper the demo loader, the
benchmarks and the tests use (through stock boto3 clients, so it works against any endpoint).

``wait_for`` returns the resource once ``done`` says so, with the statuses it went through under
``seen``; ``wait_active`` wants it ACTIVE and raises ``error`` with its failureReason otherwise.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

Resource = dict[str, Any]
# Where a create ends: Personalize never moves a resource on from these by itself.
SETTLED = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED")


def settled(resource: Resource) -> bool:
    return resource.get("status") in SETTLED


def wait_for(
    describe: Callable[[], Resource],
    done: Callable[[Resource], bool] = settled,
    *,
    timeout: float = 180.0,
    what: str = "resource",
    field: str = "status",
    poll: float = 0.05,
    max_poll: float | None = None,
    error: Callable[[str], Exception] = TimeoutError,
) -> Resource:
    """``describe()`` every ``poll`` seconds (growing by half each time up to ``max_poll``, when given)
    until ``done(resource)``; then the resource, with ``seen``: the values ``field`` took, in order.
    ``error(message)`` is raised when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    seen: list[Any] = []
    delay = poll
    while True:
        resource = describe()
        if not seen or seen[-1] != resource.get(field):
            seen.append(resource.get(field))
        if done(resource):
            resource["seen"] = seen
            return resource
        if time.monotonic() + delay > deadline:
            raise error(f"{what} still {seen[-1] or 'without ' + field} after {timeout:.0f}s (went {seen})")
        time.sleep(delay)
        if max_poll is not None:
            delay = min(delay * 1.5, max_poll)


def _ended(resource: Resource) -> bool:
    status = str(resource.get("status", ""))
    return status == "ACTIVE" or "FAILED" in status or "STOPPED" in status or status.startswith("DELETE")


def wait_active(
    describe: Callable[[], Resource],
    what: str,
    timeout: float,
    *,
    poll: float = 0.25,
    max_poll: float | None = None,
    error: Callable[[str], Exception] = RuntimeError,
) -> Resource:
    """The resource once ACTIVE; ``error`` names its status and failureReason when it failed, was
    stopped or is being deleted instead, or when ``timeout`` passes first."""
    resource = wait_for(
        describe, _ended, timeout=timeout, what=what, poll=poll, max_poll=max_poll, error=error
    )
    if resource["status"] != "ACTIVE":
        reason = resource.get("failureReason", "no failureReason given")
        raise error(f"{what} is {resource['status']}: {reason}")
    return resource
