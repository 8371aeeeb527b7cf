"""Event trackers and PutItems / PutUsers / PutActions over HTTP with stock boto3 clients."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError
from picks import services as picks_services
from picks.controlplane import event_trackers
from picks.domain import queries
from picks.events_api import resolve_tracker

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.conftest import client_for

pytestmark = pytest.mark.e2e

INTERACTIONS = avro_schema("Interactions", *USER_ITEM_TIME)
ITEMS = avro_schema(
    "Items",
    ("ITEM_ID", "string"),
    ("GENRES", "string", "categorical"),
    ("NUMBER_OF_RATINGS", ["null", "int"]),
    ("PRICE", ["null", "double"]),
    ("CREATION_TIMESTAMP", ["null", "long"]),
)
USERS = avro_schema(
    "Users", ("USER_ID", "string"), ("MEMBERSHIP_TYPE", "string", "categorical"), ("AGE", ["null", "int"])
)
ACTIONS = avro_schema("Actions", ("ACTION_ID", "string"), ("CHANNEL", "string", "categorical"))
MISSING_GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/no-such-group"


@pytest.fixture(scope="module")
def personalize(emulator):
    return client_for(emulator, "personalize")


@pytest.fixture(scope="module")
def events(emulator):
    return client_for(emulator, "personalize-events")


def new_group(personalize, name: str) -> str:
    return personalize.create_dataset_group(name=name)["datasetGroupArn"]


@pytest.fixture(scope="module")
def datasets(personalize):
    """A dataset group with Interactions, Items, Users and Actions datasets."""
    group = new_group(personalize, "records")
    arns = {}
    for dataset_type, schema in (
        ("INTERACTIONS", INTERACTIONS),
        ("ITEMS", ITEMS),
        ("USERS", USERS),
        ("ACTIONS", ACTIONS),
    ):
        schema_arn = personalize.create_schema(name=f"records-{dataset_type.lower()}", schema=schema)[
            "schemaArn"
        ]
        arns[dataset_type] = personalize.create_dataset(
            name=f"records-{dataset_type.lower()}",
            datasetGroupArn=group,
            datasetType=dataset_type,
            schemaArn=schema_arn,
        )["datasetArn"]
    return arns


def stored(dataset_arn: str, ids: list[str]) -> dict:
    return picks_services.get_services().metadata.get(dataset_arn, ids)


# --------------------------------------------------------------------------- event trackers


def test_event_tracker_lifecycle(personalize):
    group = new_group(personalize, "tracked")
    created = personalize.create_event_tracker(
        name="clicks", datasetGroupArn=group, tags=[{"tagKey": "team", "tagValue": "recs"}]
    )
    arn = created["eventTrackerArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:event-tracker/clicks"
    assert str(uuid.UUID(created["trackingId"])) == created["trackingId"]

    tracker = personalize.describe_event_tracker(eventTrackerArn=arn)["eventTracker"]
    assert tracker["name"] == "clicks"
    assert tracker["eventTrackerArn"] == arn
    assert tracker["accountId"] == "000000000000"
    assert tracker["trackingId"] == created["trackingId"]
    assert tracker["datasetGroupArn"] == group
    assert tracker["status"] == "ACTIVE"
    assert tracker["creationDateTime"] <= tracker["lastUpdatedDateTime"]
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"tagKey": "team", "tagValue": "recs"}
    ]

    listed = personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    assert [t["eventTrackerArn"] for t in listed] == [arn]
    assert set(listed[0]) == {"name", "eventTrackerArn", "status", "creationDateTime", "lastUpdatedDateTime"}
    assert arn in [t["eventTrackerArn"] for t in personalize.list_event_trackers()["eventTrackers"]]

    # The trackingId resolves to the tracker (what PutEvents uses).
    resolved = resolve_tracker(picks_services.get_services(), created["trackingId"])
    assert resolved.arn == arn and resolved.kind == "event-tracker"
    assert resolved.doc["datasetGroupArn"] == group and resolved.parent == group

    # The dataset group can't go while its tracker exists.
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="event-tracker"):
        personalize.delete_dataset_group(datasetGroupArn=group)

    personalize.delete_event_tracker(eventTrackerArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="eventTrackerArn"):
        personalize.describe_event_tracker(eventTrackerArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="eventTrackerArn"):
        personalize.delete_event_tracker(eventTrackerArn=arn)
    assert personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"] == []
    services = picks_services.get_services()
    assert services.resources.find(event_trackers.alias_key(created["trackingId"])) is None
    assert services.resources.find(event_trackers.claim_key(group)) is None
    with pytest.raises(Exception, match=created["trackingId"]):
        resolve_tracker(services, created["trackingId"])

    # Once the tracker is gone, the group can have a new one, and can be deleted.
    again = personalize.create_event_tracker(name="clicks", datasetGroupArn=group)
    assert again["trackingId"] != created["trackingId"]
    personalize.delete_event_tracker(eventTrackerArn=again["eventTrackerArn"])
    personalize.delete_dataset_group(datasetGroupArn=group)


def test_only_one_event_tracker_per_dataset_group(personalize):
    group = new_group(personalize, "one-tracker")
    first = personalize.create_event_tracker(name="first", datasetGroupArn=group)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException) as caught:
        personalize.create_event_tracker(name="second", datasetGroupArn=group)
    message = caught.value.response["Error"]["Message"]
    assert message.startswith(f"datasetGroupArn: {group}") and first["eventTrackerArn"] in message
    # The refused tracker left nothing behind.
    assert [t["name"] for t in personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]] == [
        "first"
    ]
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_event_tracker(
            eventTrackerArn=first["eventTrackerArn"].replace("first", "second")
        )


def test_concurrent_creates_leave_one_tracker(emulator, personalize):
    group = new_group(personalize, "contended")
    outcomes: list[str] = []

    def create(index: int) -> None:
        client = client_for(emulator, "personalize")
        try:
            client.create_event_tracker(name=f"contender-{index}", datasetGroupArn=group)
            outcomes.append("created")
        except client.exceptions.ResourceAlreadyExistsException:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["refused"] * 5
    assert len(personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]) == 1


def test_event_tracker_names_are_unique_per_account(personalize):
    group_a, group_b = new_group(personalize, "names-a"), new_group(personalize, "names-b")
    personalize.create_event_tracker(name="shared-name", datasetGroupArn=group_a)
    with pytest.raises(
        personalize.exceptions.ResourceAlreadyExistsException, match="name: event tracker shared-name"
    ):
        personalize.create_event_tracker(name="shared-name", datasetGroupArn=group_b)
    # group_b was not left claimed by the refused create.
    personalize.create_event_tracker(name="other-name", datasetGroupArn=group_b)


def test_stale_claim_does_not_block_a_new_tracker(personalize):
    # A DeleteEventTracker that stopped after deleting the tracker leaves the group's claim behind.
    group = new_group(personalize, "stale-claim")
    first = personalize.create_event_tracker(name="stale-first", datasetGroupArn=group)
    services = picks_services.get_services()
    services.resources.delete(event_trackers.alias_key(first["trackingId"]))
    services.resources.delete(first["eventTrackerArn"])
    assert services.resources.find(event_trackers.claim_key(group)) is not None
    second = personalize.create_event_tracker(name="stale-second", datasetGroupArn=group)
    claim = services.resources.find(event_trackers.claim_key(group))
    assert claim.doc["eventTrackerArn"] == second["eventTrackerArn"]


def test_create_event_tracker_errors(personalize):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="datasetGroupArn"):
        personalize.create_event_tracker(name="orphan", datasetGroupArn=MISSING_GROUP)
    with pytest.raises(personalize.exceptions.InvalidInputException, match="name"):
        personalize.create_event_tracker(name="bad name!", datasetGroupArn=MISSING_GROUP)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException, match="eventTrackerArn"):
        personalize.describe_event_tracker(
            eventTrackerArn="arn:aws:personalize:us-east-1:000000000000:event-tracker/nope"
        )


def test_list_event_trackers_paginates(personalize):
    names = [f"paged-{index}" for index in range(3)]
    for name in names:
        personalize.create_event_tracker(name=name, datasetGroupArn=new_group(personalize, f"group-{name}"))
    pages = personalize.get_paginator("list_event_trackers").paginate(PaginationConfig={"PageSize": 1})
    seen = [t["name"] for page in pages for t in page["eventTrackers"]]
    assert set(names) <= set(seen) and len(seen) == len(set(seen))
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_event_trackers(nextToken="garbage")


def test_unknown_tracking_id_is_not_found():
    with pytest.raises(Exception) as caught:
        resolve_tracker(picks_services.get_services(), "no-such-tracking-id")
    assert type(caught.value).__name__ == "ResourceNotFoundException"
    assert "trackingId" in caught.value.message and "no-such-tracking-id" in caught.value.message


def test_resolved_tracker_is_cached_for_a_minute(personalize):
    group = new_group(personalize, "cached")
    created = personalize.create_event_tracker(name="cached", datasetGroupArn=group)
    services = picks_services.get_services()
    now = 1000.0
    assert queries.lookup_tracking_id(services, created["trackingId"], now=now) is not None
    # Deleted behind this process's back (another Lambda container): still resolves from the cache...
    services.resources.delete(event_trackers.alias_key(created["trackingId"]))
    assert queries.lookup_tracking_id(services, created["trackingId"], now=now + 59) is not None
    # ...until the entry expires.
    assert queries.lookup_tracking_id(services, created["trackingId"], now=now + 61) is None


# --------------------------------------------------------------------------- PutItems / PutUsers / PutActions


def test_put_items_stores_validated_records_and_upserts(events, datasets):
    dataset = datasets["ITEMS"]
    events.put_items(
        datasetArn=dataset,
        items=[
            {
                "itemId": "i1",
                "properties": json.dumps(
                    {"genres": "Horror|Action", "numberOfRatings": 12, "creationTimestamp": 1700000000}
                ),
            },
            {"itemId": "i2", "properties": json.dumps({"GENRES": "Comedy", "price": "9.99"})},
        ],
    )
    assert stored(dataset, ["i1", "i2", "i3"]) == {
        "i1": {"GENRES": "Horror|Action", "NUMBER_OF_RATINGS": 12, "CREATION_TIMESTAMP": 1700000000},
        "i2": {"GENRES": "Comedy", "PRICE": 9.99},
    }
    # A second put of the same id replaces the record (fields it leaves out are gone).
    events.put_items(datasetArn=dataset, items=[{"itemId": "i1", "properties": '{"genres": "Drama"}'}])
    assert stored(dataset, ["i1", "i2"]) == {
        "i1": {"GENRES": "Drama"},
        "i2": {"GENRES": "Comedy", "PRICE": 9.99},
    }
    everything = dict(picks_services.get_services().metadata.scan_all(dataset))
    assert set(everything) >= {"i1", "i2"}


def test_put_users_and_put_actions(events, datasets):
    events.put_users(
        datasetArn=datasets["USERS"],
        users=[
            {"userId": "u1", "properties": json.dumps({"membershipType": "gold|early", "age": "41"})},
        ],
    )
    assert stored(datasets["USERS"], ["u1"]) == {"u1": {"MEMBERSHIP_TYPE": "gold|early", "AGE": 41}}
    events.put_actions(
        datasetArn=datasets["ACTIONS"],
        actions=[
            {"actionId": "a1", "properties": '{"channel": "email"}'},
        ],
    )
    assert stored(datasets["ACTIONS"], ["a1"]) == {"a1": {"CHANNEL": "email"}}


@pytest.mark.parametrize(
    ("properties", "fragments"),
    [
        (
            '{"genres": "a", "colour": "red"}',
            ("items.1.properties: 'colour' is not a field of the ITEMS schema",),
        ),
        (
            '{"genres": "a", "numberOfRatings": "many"}',
            ("items.1.properties: 'numberOfRatings'", "not a valid int"),
        ),
        ('{"genres": "a", "creationTimestamp": 1700000000000}', ("'creationTimestamp'", "milliseconds")),
        ('{"genres": "a",', ("items.1.properties: not valid JSON",)),
        ('["genres"]', ("items.1.properties: must be a JSON object",)),
        ('{"numberOfRatings": 3}', ("items.1.properties: 'genres' is missing", "GENRES")),
    ],
)
def test_put_items_validation_errors_name_the_record_and_key(events, datasets, properties, fragments):
    dataset = datasets["ITEMS"]
    with pytest.raises(events.exceptions.InvalidInputException) as caught:
        events.put_items(
            datasetArn=dataset,
            items=[
                {"itemId": "valid-before-bad", "properties": '{"genres": "Comedy"}'},
                {"itemId": "bad", "properties": properties},
            ],
        )
    message = caught.value.response["Error"]["Message"]
    for fragment in fragments:
        assert fragment in message
    # Nothing of the call was stored, not even the valid record before the bad one.
    assert stored(dataset, ["valid-before-bad", "bad"]) == {}


def test_put_users_validation_error(events, datasets):
    with pytest.raises(
        events.exceptions.InvalidInputException, match=r"users\.0\.properties: 'age'.*not a valid int"
    ):
        events.put_users(
            datasetArn=datasets["USERS"],
            users=[{"userId": "u9", "properties": '{"membershipType": "x", "age": 4.5}'}],
        )


def test_wrong_dataset_type_and_unknown_dataset(events, datasets):
    with pytest.raises(events.exceptions.InvalidInputException) as caught:
        events.put_items(
            datasetArn=datasets["USERS"], items=[{"itemId": "i1", "properties": '{"genres": "a"}'}]
        )
    message = caught.value.response["Error"]["Message"]
    assert (
        message.startswith(f"datasetArn: {datasets['USERS']}") and "USERS" in message and "ITEMS" in message
    )
    with pytest.raises(events.exceptions.InvalidInputException, match="datasetArn: .*INTERACTIONS"):
        events.put_users(datasetArn=datasets["INTERACTIONS"], users=[{"userId": "u1"}])
    missing = datasets["ITEMS"].replace("dataset/records/", "dataset/no-such-group/")
    with pytest.raises(events.exceptions.ResourceNotFoundException, match=f"datasetArn: Dataset {missing}"):
        events.put_items(datasetArn=missing, items=[{"itemId": "i1"}])


def test_put_items_is_validated_against_the_model(events, datasets):
    with pytest.raises(events.exceptions.InvalidInputException, match="items"):
        events.put_items(
            datasetArn=datasets["ITEMS"],
            items=[{"itemId": f"i{n}", "properties": '{"genres": "a"}'} for n in range(11)],
        )


@pytest.mark.parametrize(
    ("code", "status", "exception"),
    [
        ("ProvisionedThroughputExceededException", 400, "ThrottlingException"),
        ("InternalServerError", 503, "ServiceUnavailableException"),
    ],
)
def test_storage_faults_are_retryable_errors_not_lost_records(events, datasets, code, status, exception):
    store = picks_services.get_services().metadata
    real = store._db

    class Failing:
        def __getattr__(self, name):
            return getattr(real, name)

        def transact_write_items(self, **kwargs):
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "TransactWriteItems")

    store._db = Failing()
    try:
        with pytest.raises(ClientError) as caught:
            events.put_items(
                datasetArn=datasets["ITEMS"], items=[{"itemId": "fault", "properties": '{"genres": "a"}'}]
            )
    finally:
        store._db = real
    assert caught.value.response["Error"]["Code"] == exception
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "retry" in caught.value.response["Error"]["Message"]
    assert stored(datasets["ITEMS"], ["fault"]) == {}


def test_metadata_get_retries_unprocessed_keys(datasets):
    store = picks_services.get_services().metadata
    store.put(datasets["ACTIONS"], [("k1", {"CHANNEL": "sms"}), ("k2", {"CHANNEL": "push"})])
    real = store._db
    calls = []

    class Partial:
        def __getattr__(self, name):
            return getattr(real, name)

        def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's parameter name
            calls.append(RequestItems)
            if len(calls) == 1:  # first round: answer one key, leave the other unprocessed
                table, request = next(iter(RequestItems.items()))
                first, rest = request["Keys"][:1], request["Keys"][1:]
                answered = real.batch_get_item(RequestItems={table: {**request, "Keys": first}})
                answered["UnprocessedKeys"] = {table: {**request, "Keys": rest}}
                return answered
            return real.batch_get_item(RequestItems=RequestItems)

    store._db, store._sleep = Partial(), lambda seconds: None
    try:
        assert store.get(datasets["ACTIONS"], ["k1", "k2", "absent"]) == {
            "k1": {"CHANNEL": "sms"},
            "k2": {"CHANNEL": "push"},
        }
    finally:
        store._db, store._sleep = real, time.sleep
    assert len(calls) == 2
