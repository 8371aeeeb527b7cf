"""TagResource / UntagResource / ListTagsForResource for any picks resource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.controlplane.common import check_tag_count
from picks.controlplane.registry import operation

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

WHAT = "Resource"


@operation("TagResource")
def tag_resource(services: Services, params: dict[str, Any]) -> None:
    arn = params["resourceArn"]

    def apply(resource: Resource) -> None:
        merged = {tag["tagKey"]: tag["tagValue"] for tag in resource.tags}
        merged.update({tag["tagKey"]: tag["tagValue"] for tag in params["tags"]})
        tags = [{"tagKey": key, "tagValue": value} for key, value in merged.items()]
        check_tag_count(services, tags, arn)
        resource.tags = tags

    services.resources.update(arn, apply, what=WHAT)


@operation("UntagResource")
def untag_resource(services: Services, params: dict[str, Any]) -> None:
    removed = set(params["tagKeys"])

    def apply(resource: Resource) -> None:
        resource.tags = [tag for tag in resource.tags if tag["tagKey"] not in removed]

    services.resources.update(params["resourceArn"], apply, what=WHAT)


@operation("ListTagsForResource")
def list_tags_for_resource(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"tags": services.resources.get(params["resourceArn"], what=WHAT).tags}
