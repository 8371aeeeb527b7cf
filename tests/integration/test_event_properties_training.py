"""PutEvents ``properties`` reach training: the Prepare step's staged INTERACTIONS table carries the
context columns the events set (DEVICE) beside the bulk rows, and training's context lifts are
learned from them as from imported rows."""

from __future__ import annotations

import numpy as np
from picks.dal.event_store import StoredEvent
from picks.dataset_schema import DatasetSchema, Field
from picks.domain.resources import TableRef
from picks.ingest.columnar import read_table, write_table
from picks.ingest.csv_reader import read_csv
from picks.model_artifact import ModelArtifact
from picks.records import validate_event_properties
from picks.workflows import solution_version

from training import context

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/context"
SCHEMA = DatasetSchema(
    "Interactions",
    (
        Field("USER_ID", "string"),
        Field("ITEM_ID", "string"),
        Field("TIMESTAMP", "long"),
        Field("EVENT_TYPE", "string"),
        Field("DEVICE", "string", nullable=True, categorical=True),
    ),
)


def _event(n: int, item: str, device: str | None) -> StoredEvent:
    properties = None if device is None else f'{{"device": "{device}"}}'
    if properties is not None:
        validate_event_properties(SCHEMA, properties, "properties")  # as PutEvents accepted it
    return StoredEvent(
        event_id=f"e{n}",
        session_id=f"s{n % 7}",
        user_id=f"live{n % 7}",
        event_type="click",
        sent_at=1_700_000_000.0 + n,
        item_id=item,
        properties=properties,
    )


def test_event_properties_are_staged_as_context_columns_and_trained_on(services):
    bucket = services.settings.bucket_name
    bulk_rows = "".join(f"u{n % 50},i{n % 40},{1_600_000_000 + n},click,web\n" for n in range(1000))
    bulk = read_csv(
        ("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,DEVICE\n" + bulk_rows).encode(), SCHEMA, "INTERACTIONS"
    )
    write_table(services.s3, bucket, "datasets/context/interactions", bulk)
    # On phones, people pick i-mobile; events without properties have no device.
    events = [_event(n, "i-mobile", "phone") for n in range(30)] + [
        _event(30 + n, "i3", None) for n in range(5)
    ]
    for start in range(0, len(events), 10):  # PutEvents takes 10 events a call
        services.events.put_events(GROUP, events[start : start + 10])
    destination = "training-input/context-job/interactions"
    rows = solution_version._stage_interactions(  # noqa: SLF001 - the Prepare step's staging itself
        services,
        GROUP,
        TableRef("datasets/context/interactions", bulk.row_count),
        int(1e15),
        destination,
        SCHEMA,
    )
    assert rows == 1035
    staged = read_table(services.s3, bucket, destination)
    devices = staged["DEVICE"].decoded().tolist()
    items = staged["ITEM_ID"].decoded().tolist()
    assert sorted(d for d, i in zip(devices, items, strict=True) if i == "i-mobile") == ["phone"] * 30
    assert [d for d, i in zip(devices, items, strict=True) if i == "i3"].count(None) == 5
    assert devices.count("web") == 1000
    field = staged.schema.field("DEVICE")
    assert field is not None and field.categorical
    # Training's context lifts (training/context.py) see the phone context from the events alone.
    ids = np.array(sorted(set(items)), dtype=object)
    scratch = ModelArtifact(
        recipe="aws-user-personalization", recipe_type="USER_PERSONALIZATION", item_ids=ids
    )
    context.attach(scratch, staged)
    keys = scratch.strings["context_keys"].tolist()
    assert "DEVICE=phone" in keys
    lift = scratch.arrays["context_lift"][keys.index("DEVICE=phone")]
    assert int(np.argmax(lift)) == ids.tolist().index("i-mobile")
