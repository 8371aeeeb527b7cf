"""Control-plane resources in one DynamoDB table.

Item layout (the CDK storage construct declares the same keys):

* ``pk``     the resource ARN
* ``kind``   ARN resource kind (``dataset-group``, ``schema``, ...) — GSI ``byKind`` partition key
* ``sk``     ``<creation epoch, zero padded>#<arn>`` — GSI sort key, so lists come back oldest first
* ``parent`` the parent ARN, if any (dataset group of a dataset, dataset of an import job)
* ``doc``    the resource as Describe returns it, JSON text (floats survive; DynamoDB numbers would not)
* ``state``  JSON text of the private state of kinds that have one (``picks.domain.resources``); records
             written before it existed keep that state inside ``doc``, which reading moves out
* ``tags``   JSON text of ``[{"tagKey": .., "tagValue": ..}]``
* ``rev``    revision counter for optimistic concurrency on updates
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from picks.domain.resources import NoState, Resource, from_storage
from picks.errors import ResourceAlreadyExistsException, ResourceNotFoundException

if TYPE_CHECKING:
    from collections.abc import Callable

BY_KIND_INDEX = "byKind"


class ConcurrentUpdate(Exception):
    """Another writer changed the resource between our read and write."""


class ResourceStore:
    """CRUD for control-plane resources; ``dynamodb`` is an injected boto3 DynamoDB client.

    With a ``region``, resources whose ARN names another region are invisible (``find`` is None,
    ``list`` skips them), as in AWS, where each region is a separate service.
    """

    def __init__(self, dynamodb: Any, table_name: str, region: str | None = None) -> None:
        self._db = dynamodb
        self._table = table_name
        self.region = region

    def in_region(self, region: str) -> ResourceStore:
        return self if region == self.region else ResourceStore(self._db, self._table, region)

    def visible(self, arn: str) -> bool:
        """Whether ``arn`` may be seen from this store's region (always, without one)."""
        # Only Personalize ARNs that name a region; recipes (arn:aws:personalize:::recipe/..) are global.
        parts = arn.split(":", 4)
        if self.region is None or len(parts) < 5 or parts[2] != "personalize":
            return True
        return parts[3] in ("", self.region)

    def create(self, resource: Resource, *, what: str) -> None:
        item = self._to_item(resource)
        try:
            self._db.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ResourceAlreadyExistsException(f"{what} {resource.arn} already exists.") from error
            raise

    def find(self, arn: str) -> Resource | None:
        if not self.visible(arn):
            return None
        response = self._db.get_item(TableName=self._table, Key={"pk": {"S": arn}}, ConsistentRead=True)
        item = response.get("Item")
        return self._from_item(item) if item else None

    def get(self, arn: str, *, what: str, kind: str | None = None) -> Resource:
        resource = self.find(arn)
        if resource is None or (kind is not None and resource.kind != kind):
            raise ResourceNotFoundException(f"{what} {arn} does not exist.")
        return resource

    def save(self, resource: Resource) -> None:
        """Write back a resource read earlier; fails if someone else wrote it meanwhile."""
        item = self._to_item(resource, rev=resource.rev + 1)
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="#rev = :rev",
                ExpressionAttributeNames={"#rev": "rev"},
                ExpressionAttributeValues={":rev": {"N": str(resource.rev)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(resource.arn) from error
            raise
        resource.rev += 1

    def update(
        self, arn: str, change: Callable[[Resource], None], *, what: str, attempts: int = 5
    ) -> Resource:
        """Read-modify-write with retries on concurrent updates."""
        for _ in range(attempts):
            resource = self.get(arn, what=what)
            change(resource)
            try:
                self.save(resource)
                return resource
            except ConcurrentUpdate:
                continue
        raise ConcurrentUpdate(arn)

    def delete(self, arn: str) -> None:
        self._db.delete_item(TableName=self._table, Key={"pk": {"S": arn}})

    def list(self, kind: str, parent: str | None = None) -> list[Resource]:
        """All resources of ``kind`` (optionally under ``parent``), oldest first."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_KIND_INDEX,
            "KeyConditionExpression": "#kind = :kind",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":kind": {"S": kind}},
        }
        if parent is not None:
            query["FilterExpression"] = "#parent = :parent"
            query["ExpressionAttributeNames"]["#parent"] = "parent"
            query["ExpressionAttributeValues"][":parent"] = {"S": parent}
        found: list[Resource] = []
        while True:
            response = self._db.query(**query)
            items = response.get("Items", [])
            found.extend(self._from_item(item) for item in items if self.visible(item["pk"]["S"]))
            if "LastEvaluatedKey" not in response:
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    @staticmethod
    def _to_item(resource: Resource, rev: int | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": resource.arn},
            "kind": {"S": resource.kind},
            "sk": {"S": f"{resource.created:020.6f}#{resource.arn}"},
            "doc": {"S": json.dumps(resource.doc, separators=(",", ":"))},
            "tags": {"S": json.dumps(resource.tags, separators=(",", ":"))},
            "rev": {"N": str(resource.rev if rev is None else rev)},
            "created": {"N": repr(resource.created)},
        }
        if resource.parent:
            item["parent"] = {"S": resource.parent}
        if not isinstance(resource.state, NoState):
            item["state"] = {"S": json.dumps(resource.state.to_json(), separators=(",", ":"))}
        return item

    @staticmethod
    def _from_item(item: dict[str, Any]) -> Resource:
        kind = item["kind"]["S"]
        doc = json.loads(item["doc"]["S"])
        stored_state = json.loads(item["state"]["S"]) if "state" in item else None
        return Resource(
            arn=item["pk"]["S"],
            kind=kind,
            doc=doc,
            state=from_storage(kind, doc, stored_state),
            parent=item.get("parent", {}).get("S"),
            tags=json.loads(item.get("tags", {}).get("S", "[]")),
            rev=int(item["rev"]["N"]),
            created=float(item.get("created", {}).get("N", "0")),
        )


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable parameters for moto and the emulator; mirrors the CDK storage construct."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": BY_KIND_INDEX,
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
