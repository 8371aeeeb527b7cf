"""api_handler: Powertools' metrics flushed as on Lambda where metrics are on, and no metric set
kept (or printed) where Powertools turns metrics off."""

from __future__ import annotations

import json
from typing import Any

import pytest
from picks import observability

from emulator.lambda_bridge import LocalContext

EVENT = {"requestContext": {"requestId": "request-1"}, "headers": {}, "httpMethod": "POST", "path": "/"}


def _counting(event: dict[str, Any], context: Any) -> dict[str, Any]:
    observability.count("Successes")
    return {"statusCode": 200}


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(observability, "METRICS", True)


@pytest.mark.usefixtures("metrics_on")
def test_metrics_on_flushes_each_requests_counts_as_emf(capsys: pytest.CaptureFixture[str]) -> None:
    handler = observability.api_handler(_counting)

    for _ in range(2):
        assert handler(EVENT, LocalContext("runtime")) == {"statusCode": 200}

    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [blob["Successes"] for blob in blobs] == [[1.0], [1.0]]  # one per request, flushed and cleared
    assert observability.metrics.metric_set == {}


def test_metrics_off_keeps_no_metric_set_and_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert not observability.METRICS  # the tests' POWERTOOLS_METRICS_DISABLED
    handler = observability.api_handler(_counting)

    for _ in range(150):  # Powertools printed a disabled metric set once it held 100 values
        handler(EVENT, LocalContext("runtime"))

    assert observability.metrics.metric_set == {}
    assert '"_aws"' not in capsys.readouterr().out


def test_tracing_follows_powertools_switch() -> None:
    assert observability.TRACING is not observability.tracer.disabled
    assert not observability.TRACING  # POWERTOOLS_TRACE_DISABLED in the tests


def test_logs_carry_the_api_gateway_request_id_as_correlation_id() -> None:
    from picks.observability import api_handler, logger

    seen: list[str | None] = []

    @api_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(logger.get_correlation_id())
        return {"statusCode": 200}

    handler(EVENT, LocalContext("runtime"))
    handler({**EVENT, "requestContext": None}, LocalContext("runtime"))
    handler({**EVENT, "requestContext": {"requestId": "request-2"}}, LocalContext("runtime"))
    assert seen == ["request-1", None, "request-2"]
