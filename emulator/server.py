"""One HTTP port: Personalize APIs → the picks Lambda handlers, everything else → moto.

Requests are told apart the way AWS endpoints would be:
* ``X-Amz-Target: AmazonPersonalize.*``                         → control plane handler
* SigV4 scope service ``personalize`` + a runtime/events path    → that API's handler
* unsigned, on a runtime/events path                            → Personalize's (a JSON 403, below)
* anything else (S3, DynamoDB, ...)                              → moto's server app
A Personalize request that API Gateway would refuse (unsigned, not signed for ``personalize``, or no such
method and path) gets API Gateway's JSON 403, never moto's S3 XML.
An S3 object created under ``drop/`` in the picks bucket fires the same
handler that the EventBridge rule targets on AWS.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import boto3
from botocore.config import Config
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from picks import services as picks_services
from picks.dal.event_store import events_table_definition
from picks.dal.resources import table_definition
from picks.errors import ResourceInUseException, excerpt
from picks.observability import logger
from picks.routes import Route, route_for, routes
from picks.settings import DEFAULT_ACCOUNT, Settings, credential_scope
from picks.workflows.declaration import TRIGGERS
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator import moto_patches
from emulator.durable import DurableState
from emulator.lambda_bridge import api_gateway_event, invoke
from emulator.recovery import end_interrupted_jobs, undelivered_drops
from emulator.schedules import ADMIN_PREFIX, AdjustableClock, ScheduleTicker, admin_response
from emulator.training_jobs import ENTRY_MODULE, LocalTrainingJobs
from emulator.workflow_runner import LocalWorkflowRunner

if TYPE_CHECKING:
    from collections.abc import Iterable

CONTROL_PLANE_TARGET = "AmazonPersonalize."
PERSONALIZE_SIGNING_NAME = "personalize"  # botocore signs all three Personalize APIs for this service
# Idle seconds a connection may take between two reads of its request (headers, then body) before the server
# drops it: a client that announces a body and stops sending holds a thread no longer than this.
READ_TIMEOUT_S = 30.0
DEFAULT_BUCKET = "picks-data"
DEFAULT_TABLE = "picks-resources"
DROP_RETRY_SECONDS = 600.0

# The emulator talks to moto in-process; settings meant for clients must not redirect it.
_CLIENT_ONLY_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_PERSONALIZE",
    "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME",
    "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS",
    "AWS_PROFILE",
)


def _prepare_environment(region: str, account: str) -> None:
    for name in _CLIENT_ONLY_ENV:
        os.environ.pop(name, None)
    # moto answers for this account whatever the credentials (STS GetCallerIdentity, assumed roles):
    # the same account as picks' ARNs, API Gateway's requestContext and the functions' own ARNs.
    os.environ["MOTO_ACCOUNT_ID"] = account
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # No aws-chunked CRC bodies on in-process PUTs: botocore's and moto's chunk handling is O(n²)
    # (400 MB: 100+ s).
    os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    # One line per request is noise next to the handlers' own structured logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


class PicksApplication:
    """The WSGI application behind the emulator's port."""

    def __init__(
        self, settings: Settings, moto_app: Any, schedules: tuple[AdjustableClock, ScheduleTicker]
    ) -> None:
        self.settings = settings
        self.moto_app = moto_app
        self._drop_threads: list[threading.Thread] = []
        self._clock, self._ticker = schedules

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        if environ.get("PATH_INFO", "").startswith(ADMIN_PREFIX):  # no S3 bucket name starts with "_"
            return self._serve_admin(environ, start_response)
        if not _personalize_shaped(environ, headers):
            return self._serve_moto(environ, start_response)
        refusal = _gateway_refusal(environ, headers)
        if refusal is not None:
            return _json_error(start_response, *refusal)
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        target = headers.get("X-Amz-Target", "")
        route = route_for(method, "/" if target else path)
        if route is None:
            # API Gateway's answer to a method and path it has no resource for, signed or not.
            return _json_error(
                start_response,
                403,
                "MissingAuthenticationTokenException",
                f"No Personalize operation at {excerpt(method)} {excerpt(path)}"
                f"{' with X-Amz-Target' if target else ''}.",
            )
        return self._serve_lambda(route, environ, headers, start_response)

    def _serve_lambda(
        self, route: Route, environ: dict[str, Any], headers: dict[str, str], start_response: Any
    ) -> Iterable[bytes]:
        try:
            body = _request_bytes(environ)
        except ValueError as error:
            return _json_error(start_response, 400, "InvalidInputException", str(error))
        except TimeoutError:  # a client that announced a body and stopped sending it
            return _json_error(
                start_response,
                408,
                "RequestTimeoutException",
                "The request body stopped arriving; the connection is closed.",
                close=True,
            )
        event = api_gateway_event(
            route,
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", "/"),
            headers,
            body,
            environ.get("REMOTE_ADDR", "127.0.0.1"),
            account=self.settings.account,
        )
        response = invoke(route.function, event)
        payload = (response.get("body") or "").encode()
        out_headers = dict(response.get("headers") or {})
        for key, values in (response.get("multiValueHeaders") or {}).items():
            out_headers.setdefault(key, values[-1])
        out_headers["Content-Length"] = str(len(payload))
        out_headers.setdefault("x-amzn-RequestId", event["requestContext"]["requestId"])
        start_response(
            f"{response['statusCode']} {_reason(response['statusCode'])}", list(out_headers.items())
        )
        return [payload]

    def _serve_admin(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The emulator's own endpoints (``emulator.schedules.admin_response``)."""
        try:
            body = _request_bytes(environ)
        except (ValueError, TimeoutError) as error:
            return _json_error(start_response, 400, "InvalidInputException", str(error))
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        status, answer = admin_response(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            query,
            body,
            clock=self._clock,
            ticker=self._ticker,
        )
        payload = json.dumps(answer).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response(f"{status} {_reason(status)}", headers)
        return [payload]

    def _serve_moto(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            captured["headers"] = {name.lower(): value for name, value in response_headers}
            return start_response(status, response_headers, exc_info)

        result = self.moto_app(environ, capture)
        if captured.get("status") == 200:
            created = _created_object(environ)
            if created is not None:
                self.on_object_created(*created, _written_object(environ, captured.get("headers") or {}))
        return result

    def on_object_created(self, bucket: str, key: str, written: dict[str, Any] | None = None) -> None:
        for trigger in TRIGGERS:
            if bucket == self.settings.bucket_name and key.startswith(trigger.prefix):
                thread = threading.Thread(
                    target=self._fire, args=(trigger.function, bucket, key, written), daemon=True
                )
                thread.start()
                self._drop_threads.append(thread)

    def _fire(self, function: str, bucket: str, key: str, written: dict[str, Any] | None = None) -> None:
        """Deliver the EventBridge event, retrying while the dataset is busy (Lambda's async retries)."""
        detail_object = dict(written or {})
        reason = detail_object.pop("reason", "PutObject")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": self.settings.account,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.settings.region,
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {**detail_object, "key": key},
                "reason": reason,
            },
        }
        deadline = time.monotonic() + DROP_RETRY_SECONDS
        while True:
            try:
                invoke(function, event)
                return
            except ResourceInUseException:
                if time.monotonic() > deadline:
                    logger.error("drop import gave up: dataset stayed busy", extra={"key": key})
                    return
                time.sleep(0.5)
            except Exception:  # noqa: BLE001 - logged like a failed async invocation
                logger.exception("drop import failed", extra={"key": key})
                return

    def wait_for_triggers(self, timeout: float = 60.0) -> None:
        for thread in list(self._drop_threads):
            thread.join(timeout)


def _signing_service(environ: dict[str, Any], authorization: str) -> str | None:
    """The service of the request's SigV4 credential scope (header or presigned query), None if unsigned."""
    scope = credential_scope(authorization) or credential_scope(unquote(environ.get("QUERY_STRING", "")))
    return scope[1] if scope else None


def _personalize_shaped(environ: dict[str, Any], headers: dict[str, str]) -> bool:
    """Whether AWS would send this request to a Personalize endpoint rather than to S3 or another service."""
    if headers.get("X-Amz-Target", "").startswith(CONTROL_PLANE_TARGET):
        return True
    service = _signing_service(environ, headers.get("Authorization", ""))
    if service is not None:
        return service == PERSONALIZE_SIGNING_NAME
    # Unsigned (or unreadably signed): a Personalize path is Personalize's, however it is asked for.
    path = "/" + environ.get("PATH_INFO", "/").strip("/")
    return path != "/" and path in {route.path for route in routes()}


def _gateway_refusal(environ: dict[str, Any], headers: dict[str, str]) -> tuple[int, str, str] | None:
    """What API Gateway (IAM authorization) answers before any Lambda runs; None lets the request through.

    The emulator checks that a request is signed for ``personalize``, not the signature itself.
    """
    authorization = headers.get("Authorization", "")
    service = _signing_service(environ, authorization)
    if service == PERSONALIZE_SIGNING_NAME:
        return None
    if service is not None:
        return (
            403,
            "InvalidSignatureException",
            (f"Credential should be scoped to correct service: '{PERSONALIZE_SIGNING_NAME}'."),
        )
    if authorization:
        return (
            403,
            "IncompleteSignatureException",
            (
                "Authorization header: not a SigV4 signature with a credential scope "
                "(Credential=<key>/<date>/<region>/personalize/aws4_request)."
            ),
        )
    return (
        403,
        "MissingAuthenticationTokenException",
        (
            "Missing Authentication Token: sign requests with SigV4 for 'personalize' "
            "(every AWS SDK and the CLI do)."
        ),
    )


def _request_bytes(environ: dict[str, Any]) -> bytes:
    """The request body; ValueError for a Content-Length that is not a byte count."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if not declared:
        return environ["wsgi.input"].read() if environ.get("wsgi.input_terminated") else b""
    if not (declared.isascii() and declared.isdigit()):  # str.isdigit() alone also takes '²'
        raise ValueError(f"Content-Length: '{excerpt(declared)}' is not a number of bytes.")
    return environ["wsgi.input"].read(int(declared)) if int(declared) else b""


def _json_error(
    start_response: Any, status: int, code: str, message: str, close: bool = False
) -> Iterable[bytes]:
    """An error as botocore's JSON parsers read it (``__type`` in the body, ``x-amzn-ErrorType`` header)."""
    payload = json.dumps({"__type": code, "message": message}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        ("x-amzn-ErrorType", code),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    start_response(f"{status} {_reason(status)}", headers + ([("Connection", "close")] if close else []))
    return [payload]


# How long, and how much, a refused request's remaining input is read before the connection closes.
LINGER_S = 1.0
LINGER_BYTES = 4 << 20


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with a socket timeout (no connection holds a thread while it sends nothing) whose
    own errors (a request line or header it cannot read) are JSON too, as every other error here."""

    timeout = READ_TIMEOUT_S

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.log_error("code %d, message %s", code, message)
        error = _HTTP_ERRORS.get(code, "BadRequestException")
        text = f"{_reason(code)}: {excerpt(message or '')}"
        payload = json.dumps({"__type": error, "message": text}).encode()
        self.send_response(code)
        for name, value in (
            ("Connection", "close"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-ErrorType", error),
        ):
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self._linger()

    def _linger(self) -> None:
        """Close as a lingering close does: answer, stop sending, and read what the client is still
        sending (the rest of a header it cannot read) for a moment; closing with unread input would
        reset the connection, and the client could lose the answer before it reads it."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_S)
            drained = 0
            while drained < LINGER_BYTES:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass  # the client went away first: nothing left to protect


_HTTP_ERRORS = {
    408: "RequestTimeoutException",
    413: "RequestEntityTooLargeException",
    414: "RequestURITooLongException",
    431: "RequestHeaderFieldsTooLargeException",
}


def _created_object(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, key) when the request was a successful S3 object write, path-style or virtual-host."""
    method = environ["REQUEST_METHOD"]
    query = environ.get("QUERY_STRING", "")
    if _signing_service(environ, environ.get("HTTP_AUTHORIZATION", "")) != "s3":
        return None  # another service's request, or an unsigned one (which S3 on AWS refuses)
    is_put = method == "PUT" and "partNumber=" not in query and "uploadId=" not in query
    is_complete = method == "POST" and "uploadId=" in query
    if not (is_put or is_complete):
        return None
    path = unquote(environ.get("PATH_INFO", "/"))
    host = environ.get("HTTP_HOST", "").split(":")[0]
    if host and not re.fullmatch(r"[\d.]+|localhost", host) and "." in host:
        bucket, key = host.split(".")[0], path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    return (bucket, key) if bucket and key else None


_sequence = iter(range(1, 1 << 62))


def _written_object(environ: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """The ``object`` of S3's "Object Created" event detail for this write: etag, version-id (a
    versioned bucket), size when the request says it, and a sequencer that orders the writes."""
    written: dict[str, Any] = {
        "etag": headers.get("etag", "").strip('"'),
        # S3's sequencer: hex, unique per write of a key and growing with each; redeliveries repeat it.
        "sequencer": f"{time.time_ns():016X}{next(_sequence):08X}",
    }
    if headers.get("x-amz-version-id") and headers["x-amz-version-id"] != "null":
        written["version-id"] = headers["x-amz-version-id"]
    size = environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH") or environ.get("CONTENT_LENGTH")
    if environ["REQUEST_METHOD"] == "PUT" and size and size.isascii() and size.isdigit():
        written["size"] = int(size)
    if environ["REQUEST_METHOD"] == "POST":
        written["reason"] = "CompleteMultipartUpload"
    return written


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Emulator:
    """Starts moto, creates picks' table and bucket, and serves everything on one port.

    With ``data_dir`` the S3 and DynamoDB state (everything picks stores) lives in that directory
    (``emulator.durable``): it is restored at start, every acknowledged change is on disk before
    its response, and jobs the previous server was running end CREATE FAILED.  Without it the
    state is in memory only (tests).  ``fsync=False`` skips the fsyncs: a killed server still
    loses nothing, a machine that loses power may lose the last changes.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        region: str = "us-east-1",
        bucket: str = DEFAULT_BUCKET,
        table: str = DEFAULT_TABLE,
        data_dir: str | os.PathLike[str] | None = None,
        fsync: bool = True,
        read_timeout_s: float = READ_TIMEOUT_S,
        tick_interval_s: float | None = None,
        training_entry_module: str = ENTRY_MODULE,
    ) -> None:
        self.host, self.port = host, port
        # The training jobs' entry point (``python -m``); tests may wrap training.train.
        self.training_entry_module = training_entry_module
        self.read_timeout_s = read_timeout_s
        self.settings = replace(  # PICKS_MAX_* quotas and thresholds as on Lambda
            Settings(region=region, account=DEFAULT_ACCOUNT, table_name=table, bucket_name=bucket),
            **Settings.quotas_from_environment(),
        )
        self._mock = mock_aws()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.runner: LocalWorkflowRunner | None = None
        self.training_jobs: LocalTrainingJobs | None = None
        self.app: PicksApplication | None = None
        self.state = DurableState(data_dir, fsync=fsync) if data_dir is not None else None
        self.restored: RestoreSummary | None = None
        # What resources and events are stamped with and schedules run on; tests advance it.
        self.clock = AdjustableClock()
        # The declared schedules (automatic training and updates), every tick_interval_s seconds
        # (default: their declared rate; 0: only when asked, ``tick``).
        self.ticker = ScheduleTicker(invoke, tick_interval_s)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _provision(self) -> None:
        _prepare_environment(self.settings.region, self.settings.account)
        moto_patches.install()
        self._mock.start()
        started = time.perf_counter()
        replay = self.state.open() if self.state is not None else None
        session = boto3.session.Session(region_name=self.settings.region)
        _ensure_storage(session, self.settings)
        # Model files of hundreds of MB: no SHA-256 of each body for the request signature (unsigned
        # payload, as S3 accepts over HTTPS); moto hashes it once more for the ETag anyway.
        unsigned = Config(s3={"payload_signing_enabled": False})
        self.training_jobs = LocalTrainingJobs(
            session.client("s3", config=unsigned), entry_module=self.training_entry_module
        )
        self.runner = LocalWorkflowRunner(invoke, training_jobs=self.training_jobs)
        picks_services.set_services(
            picks_services.build(
                self.settings,
                session=session,
                workflows=self.runner,
                training_jobs=self.training_jobs,
                clock=self.clock,
            )
        )
        if self.state is not None and replay is not None:
            interrupted = end_interrupted_jobs(picks_services.get_services())
            # One snapshot instead of the journal, and no body kept that nothing uses: the next start
            # reads only what is current.
            self.state.compact()
            self.state.collect_garbage()
            self.restored = RestoreSummary(
                records=replay.records,
                replay_seconds=replay.seconds,
                seconds=time.perf_counter() - started,
                interrupted=interrupted,
                skipped=replay.skipped,
            )
        self.app = PicksApplication(
            self.settings, DomainDispatcherApplication(create_backend_app), (self.clock, self.ticker)
        )
        if self.state is not None and replay is not None:
            for key, written in undelivered_drops(picks_services.get_services()):
                self.app.on_object_created(self.settings.bucket_name, key, written)

    def start(self) -> Emulator:
        """Serve in a background thread (tests, the demo, benchmarks)."""
        self._provision()
        assert self.app is not None
        handler = type("RequestHandler", (_RequestHandler,), {"timeout": self.read_timeout_s})
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)
        self.port = self._server.server_port  # port 0 picks a free one
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="emulator")
        self._thread.start()
        self.ticker.start()
        return self

    def tick(self, advance_s: float = 0.0) -> list[dict[str, str]]:
        """Move the clock ``advance_s`` seconds forward and run the declared schedules once, now;
        returns what they started (``{"kind": "training" | "update", "solutionVersionArn": ...}``)."""
        self.clock.advance(advance_s)
        return self.ticker.tick()

    def serve_forever(self) -> None:
        """Serve until Ctrl-C or SIGTERM, then stop gracefully (``stop``)."""
        if self._server is None:
            self.start()
        assert self._thread is not None
        stop_on_sigterm()
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def wait_idle(self, timeout: float = 120.0) -> None:
        if self.app is not None:
            self.app.wait_for_triggers(timeout)
        if self.runner is not None:
            self.runner.wait_idle(timeout)

    def stop(self) -> None:
        """Stop serving, end running training jobs (they fail as interrupted), let the other running
        steps finish, and leave the state compacted on disk.  Safe to call twice."""
        if self.app is None:
            return
        self.app = None
        self.ticker.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self.training_jobs is not None:
            self.training_jobs.shutdown()
        if self.runner is not None:
            self.runner.shutdown(cancel_pending=True)
            self.runner = None
        if self.state is not None:
            self.state.close()
        picks_services.set_services(None)
        self._mock.stop()


@dataclass(frozen=True)
class RestoreSummary:
    """What a start with a data directory found there."""

    records: int
    replay_seconds: float
    seconds: float  # replay, interrupted jobs, compaction: the whole restore
    interrupted: list[str]
    skipped: list[str]


def _ensure_storage(session: Any, settings: Settings) -> None:
    """picks' bucket and tables, unless a restored state has them already."""
    s3 = session.client("s3")
    if settings.bucket_name not in {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=settings.bucket_name)
    dynamodb = session.client("dynamodb")
    existing = set(dynamodb.list_tables().get("TableNames", []))
    definitions = (table_definition(settings.table_name), events_table_definition(settings.events_table_name))
    for definition in definitions:
        if definition["TableName"] not in existing:
            dynamodb.create_table(**definition)


def stop_on_sigterm() -> None:
    """SIGTERM (``kill``, a process manager) stops the server as Ctrl-C does (main thread only)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)
