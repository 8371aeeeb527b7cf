"""Helpers shared by the control-plane operation modules."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from picks import arns
from picks.domain.resources import Resource
from picks.errors import InvalidNextTokenException, ResourceAlreadyExistsException, TooManyTagsException

if TYPE_CHECKING:
    from picks.services import Services


DEFAULT_MAX_RESULTS = 100


def arn_for(services: Services, kind: str, path: str) -> str:
    return arns.build(services.settings.region, services.settings.account, kind, path)


def new_resource(
    services: Services,
    kind: str,
    arn: str,
    doc: dict[str, Any],
    *,
    parent: str | None = None,
    tags: list[dict[str, str]] | None = None,
) -> Resource:
    now = services.clock()
    check_tag_count(services, tags or [], arn)
    doc = {**doc, "creationDateTime": now, "lastUpdatedDateTime": now}
    return Resource(arn=arn, kind=kind, doc=doc, parent=parent, tags=list(tags or []), created=now)


def check_tag_count(services: Services, tags: list[dict[str, str]], arn: str) -> None:
    limit = services.settings.max_tags_per_resource
    if len({tag["tagKey"] for tag in tags}) > limit:
        raise TooManyTagsException(f"tags: {arn} would have more than {limit} tags.")


def paginate(
    items: list[dict[str, Any]], params: dict[str, Any], *, scope: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Offset pagination with an opaque token bound to the listing it came from."""
    offset = 0
    token = params.get("nextToken")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
            offset = int(decoded["offset"])
            if decoded["scope"] != scope or offset < 0:
                raise ValueError("token belongs to another listing")
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as error:
            raise InvalidNextTokenException("nextToken: the token is invalid or has expired.") from error
    limit = params.get("maxResults") or DEFAULT_MAX_RESULTS
    page = items[offset : offset + limit]
    next_offset = offset + limit
    if next_offset >= len(items):
        return page, None
    encoded = json.dumps({"offset": next_offset, "scope": scope}).encode()
    return page, base64.urlsafe_b64encode(encoded).decode()


def summary(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: doc[name] for name in fields if name in doc}


def create_resource(services: Services, resource: Resource, *, what: str, duplicate: str) -> None:
    """Store a new resource; if its ARN is taken, ResourceAlreadyExistsException with ``duplicate``
    (a message naming the request field that chose the ARN)."""
    try:
        services.resources.create(resource, what=what)
    except ResourceAlreadyExistsException as error:
        raise ResourceAlreadyExistsException(duplicate) from error


def list_page(
    services: Services,
    params: dict[str, Any],
    *,
    kind: str,
    fields: tuple[str, ...],
    parent: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``kind`` summaries (under ``parent`` if given), oldest first."""
    docs = [summary(r.to_wire(), fields) for r in services.resources.list(kind, parent=parent)]
    return paginate(docs, params, scope=f"{kind}:{parent or ''}" if parent is not None else kind)
