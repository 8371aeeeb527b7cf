"""The one wait-for-status helper (demo.waiting) the demo, the benchmarks and the tests share."""

from __future__ import annotations

import pytest

from demo.waiting import wait_active, wait_for


def statuses(*values: str):
    remaining = list(values)

    def describe() -> dict:
        status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return (
            {"status": status, "failureReason": "disk on fire"} if "FAILED" in status else {"status": status}
        )

    return describe


def test_wait_for_returns_the_settled_resource_with_the_statuses_it_went_through():
    found = wait_for(statuses("CREATE PENDING", "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"), poll=0)

    assert found["status"] == "ACTIVE"
    assert found["seen"] == ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]


def test_wait_for_raises_the_given_error_naming_the_last_status_when_time_is_up():
    with pytest.raises(LookupError, match="job still CREATE PENDING after 0s"):
        wait_for(statuses("CREATE PENDING"), timeout=0, what="job", error=LookupError)


def test_wait_active_reports_a_failure_with_its_reason():
    with pytest.raises(RuntimeError, match="import is CREATE FAILED: disk on fire"):
        wait_active(statuses("CREATE IN_PROGRESS", "CREATE FAILED"), "import", timeout=60, poll=0)


def test_wait_active_stops_at_a_resource_being_deleted():
    with pytest.raises(ValueError, match="campaign is DELETE PENDING"):
        wait_active(statuses("DELETE PENDING"), "campaign", timeout=60, poll=0, error=ValueError)
