"""Opaque, listing-bound pagination tokens."""

from __future__ import annotations

import pytest
from picks.controlplane.common import paginate
from picks.errors import InvalidNextTokenException

ITEMS = [{"n": i} for i in range(5)]


def test_pages_cover_everything_once():
    seen, token = [], None
    while True:
        page, token = paginate(ITEMS, {"maxResults": 2, "nextToken": token}, scope="a")
        seen += page
        if token is None:
            break
    assert seen == ITEMS


def test_token_from_another_listing_is_rejected():
    _, token = paginate(ITEMS, {"maxResults": 2}, scope="a")
    with pytest.raises(InvalidNextTokenException, match="nextToken"):
        paginate(ITEMS, {"nextToken": token}, scope="b")


def test_garbage_token_is_rejected():
    with pytest.raises(InvalidNextTokenException):
        paginate(ITEMS, {"nextToken": "%%%"}, scope="a")
