"""Slow clients cannot hold the emulator's threads: a connection that stops sending is dropped after its
read timeout, with a 408 JSON error when it had announced a body, and other clients are served meanwhile."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from emulator.server import Emulator
from tests.conftest import client_for
from tests.signed import rest_path, signed_headers

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

# The client waits far longer than the server's bound: without one, recv() times out and the test fails.
CLIENT_PATIENCE_S = 60.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = Emulator(port=0, read_timeout_s=1.0).start()
    yield server
    server.wait_idle()
    server.stop()


def _connect(emulator: Emulator) -> socket.socket:
    parts = urlsplit(emulator.url)
    connection = socket.create_connection((parts.hostname, parts.port), timeout=CLIENT_PATIENCE_S)
    return connection


def _read_all(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def _announce_body_then_stall(emulator: Emulator) -> socket.socket:
    path = rest_path("GetRecommendations")
    body = json.dumps({"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/c", "userId": "u"})
    headers = signed_headers(
        emulator.url, "personalize", "POST", path, body.encode(), {"Content-Type": "application/json"}
    )
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    connection = _connect(emulator)
    request_head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    connection.sendall(request_head.encode() + body.encode()[:2])
    return connection


def test_a_stalled_body_gets_a_408_and_the_connection_is_closed(emulator):
    stalled = [_announce_body_then_stall(emulator) for _ in range(20)]
    # Served while twenty connections sit on their bodies.
    assert "datasetGroups" in client_for(emulator, "personalize").list_dataset_groups()
    for connection in stalled:
        with connection:
            answer = _read_all(connection)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"__type": "RequestTimeoutException"' in answer


def test_stalled_headers_are_dropped(emulator):
    connection = _connect(emulator)
    with connection:
        connection.sendall(b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Le")
        answer = _read_all(connection)  # ends when the server closes the connection
    assert b"200 OK" not in answer
    assert "datasetGroups" in client_for(emulator, "personalize").list_dataset_groups()
