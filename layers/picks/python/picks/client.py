"""Stock boto3 Personalize clients for a deployed picks API.

The deployed API is API Gateway with IAM authorization, so requests must be signed
with SigV4 for the ``execute-api`` service, while botocore signs a ``personalize``
client's requests for ``personalize``. :func:`picks_client` returns an unmodified
boto3 client whose requests are re-signed for ``execute-api`` just before they are
sent; everything else (serialization, retries, pagination, errors) is boto3's own::

    from picks.client import picks_client

    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"   # the stack's ApiUrl output
    personalize = picks_client("personalize", url)
    runtime = picks_client("personalize-runtime", url)
    runtime.get_recommendations(campaignArn=arn, userId="42")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.auth import SigV4Auth

if TYPE_CHECKING:
    from botocore.awsrequest import AWSRequest

EXECUTE_API = "execute-api"
SERVICES = ("personalize", "personalize-runtime", "personalize-events")
# Headers SigV4Auth writes; the default signer's values are dropped before re-signing.
_SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


def picks_client(
    service_name: str,
    endpoint_url: str,
    region_name: str | None = None,
    session: boto3.session.Session | None = None,
    **client_kwargs: Any,
) -> Any:
    """A boto3 client for ``service_name`` that talks to the picks API at ``endpoint_url``.

    ``endpoint_url`` is the API's stage URL (the ``ApiUrl`` stack output, ending in ``/v1``); the
    three Personalize services share it. ``region_name`` defaults to the session's region and must
    be the API's region, since the signature is scoped to it. Credentials come from ``session``
    (default: a new ``boto3.session.Session()``) and are read again for every request, so
    refreshed or assumed-role credentials keep working. Extra keyword arguments go to
    ``session.client`` (e.g. ``config=``).
    """
    if service_name not in SERVICES:
        raise ValueError(f"service_name must be one of {SERVICES}, got {service_name!r}")
    session = session or boto3.session.Session()
    client = session.client(service_name, endpoint_url=endpoint_url, region_name=region_name, **client_kwargs)
    region = client.meta.region_name
    credentials = session.get_credentials()
    if credentials is None:
        raise ValueError("no AWS credentials found: API Gateway IAM authorization needs signed requests")

    def sign_for_execute_api(request: AWSRequest, **_: Any) -> None:
        for header in _SIGNATURE_HEADERS:
            del request.headers[header]  # removes every occurrence; no error when absent
        SigV4Auth(credentials.get_frozen_credentials(), EXECUTE_API, region).add_auth(request)

    # botocore's own signer handles the same event (request-created.<service id>); registering last on
    # that exact event makes this signature the one sent. The event is emitted again for every retry
    # attempt, so retries are re-signed too.
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_last(f"request-created.{service_id}", sign_for_execute_api)
    return client
