"""Filters, promotions and item metadata for runtime requests.

A filter is evaluated into an ``allowed`` mask over the model's items (``picks.filters``) from:

* item metadata: the Items dataset's bulk table, overridden by PutItems records — cached per
  model and table, with the records re-read at most every ``item_catalogs`` TTL (``picks.cache``;
  and at once after a PutItems in the same process), so metadata filters see updates within about a second;
* the user's interactions by event type: the model's copy of the training data (the newest 1000
  per type) plus the user's real-time events (the newest ``RECENT_EVENTS`` of each event type,
  whatever the mix of types: ``EventStore.recent_by_type``);
* ``CurrentUser``: the Users dataset row overridden by the PutUsers record;
* ``CurrentItem``: the request's item (RELATED_ITEMS).

The masks go into the models' ranking, so when a filter removes candidates the next best items
fill the list up to ``numResults``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from picks import cache
from picks.domain.queries import dataset_schema, group_dataset
from picks.errors import InvalidInputException, ResourceNotFoundException
from picks.filters import ItemCatalog, UserProfile, evaluate, parse_cached
from picks.ingest.columnar import ColumnTable, read_table

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.dataset_schema import DatasetSchema
    from picks.domain.resources import Resource
    from picks.services import Services
    from picks.serving.rankers import ServingModel
    from picks.serving.topk import Ranked

RECENT_EVENTS = 1000


@dataclass(frozen=True)
class _CatalogEntry:
    catalog: ItemCatalog
    records: dict[str, Any] | None
    table_prefix: str | None


_catalogs: cache.TTLCache[tuple[str, str], _CatalogEntry] = cache.named(cache.ITEM_CATALOGS)
_datasets: cache.TTLCache[tuple[str, str], Resource | None] = cache.named(cache.DATASETS)
_tables: cache.TTLCache[str, ColumnTable] = cache.named(cache.ENTITY_TABLES)
_row_indexes: cache.TTLCache[str, dict[str, int]] = cache.named(cache.ROW_INDEXES)
_filters: cache.TTLCache[str, Resource] = cache.named(cache.FILTERS)


def _dataset(services: Services, group_arn: str, dataset_type: str) -> Resource | None:
    """The group's dataset of ``dataset_type`` (its record is cached for the ``datasets`` TTL)."""
    return _datasets.get_or_load(
        (group_arn, dataset_type), lambda: group_dataset(services, group_arn, dataset_type)
    )


def _table(services: Services, prefix: str) -> ColumnTable:
    return _tables.get_or_load(prefix, lambda: read_table(services.s3, services.settings.bucket_name, prefix))


def _row_index(prefix: str, table: ColumnTable, id_field: str) -> dict[str, int]:
    """id -> its (last) row in a bulk entity table, built once per table."""
    return _row_indexes.get_or_load(
        prefix, lambda: {value: row for row, value in enumerate(table[id_field].decoded().tolist())}
    )


def _row_values(table: ColumnTable, row: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, column in table.columns.items():
        if column.is_string:
            assert column.dictionary is not None  # string columns have one
            code = int(column.data[row])
            values[name] = None if code < 0 else column.dictionary[code]
        elif column.null is not None and column.null[row]:
            values[name] = None
        else:
            values[name] = column.data[row].item()
    return values


def item_catalog(services: Services, group_arn: str, model: ServingModel, model_key: str) -> ItemCatalog:
    """The model's items with their current metadata (bulk table + PutItems records)."""
    key = (group_arn, model_key)
    now = _catalogs.now()  # before reading: a PutItems from here on leaves what this builds stale
    fresh = _catalogs.get(key, now=now)
    if fresh is not None:
        return fresh.catalog
    entry = _catalogs.peek(key)
    dataset = _dataset(services, group_arn, "ITEMS")
    table, records, schema, prefix = None, None, None, None
    if dataset is not None:
        prefix = dataset.dataset_state.data_prefix
        if services.metadata is not None:
            records = dict(services.metadata.scan_all(dataset.arn))
    if entry is not None and entry.records == records and entry.table_prefix == prefix:
        # Nothing changed since the last build: keep the catalog (and its cached masks).
        _catalogs.put(key, entry, now=now)
        return entry.catalog
    if dataset is not None:
        schema = dataset_schema(services, dataset)
        table = _table(services, prefix) if prefix else None
    catalog = ItemCatalog.build(model.item_ids, table, records, schema=schema, id_field="ITEM_ID")
    _catalogs.put(key, _CatalogEntry(catalog, records, prefix), now=now)
    return catalog


def user_profile(services: Services, group_arn: str, user_id: str | None) -> UserProfile | None:
    """``CurrentUser``: the user's Users-dataset row, overridden by their PutUsers record."""
    if not user_id:
        return None
    dataset = _dataset(services, group_arn, "USERS")
    if dataset is None:
        return None
    schema = dataset_schema(services, dataset)
    values: dict[str, Any] = {}
    prefix = dataset.dataset_state.data_prefix
    if prefix:
        table = _table(services, prefix)
        row = _row_index(prefix, table, "USER_ID").get(user_id)
        if row is not None:
            values = _row_values(table, row)
    if services.metadata is not None:
        record = services.metadata.get(dataset.arn, [user_id]).get(user_id)
        if record is not None:
            values = {"USER_ID": user_id, **record}
    return UserProfile.from_record(values, schema) if values else None


def user_interactions(model: ServingModel, user_id: str | None, events: list[Any]) -> dict[str, np.ndarray]:
    """Item indices the user interacted with, by lower-cased event type: training data + live events."""
    history = {kind: items for kind, items in model.interaction_history(user_id).items()}
    if user_id and events:
        index = model.item_index
        live: dict[str, list[int]] = {}
        for event in events:
            if event.item_id in index:
                live.setdefault(event.event_type.lower(), []).append(index[event.item_id])
        for kind, items in live.items():
            fresh = np.array(items, dtype=np.int64)
            history[kind] = np.concatenate([fresh, history[kind]]) if kind in history else fresh
    return history


def filter_resource(services: Services, arn: str) -> Resource:
    if not services.resources.visible(arn):  # another region's: not found, cached or not
        raise ResourceNotFoundException(f"Filter {arn} does not exist.")
    return _filters.get_or_load(arn, lambda: services.resources.get(arn, what="Filter", kind="filter"))


@dataclass
class RequestRules:
    services: Services
    group_arn: str
    model: ServingModel
    model_key: str
    user_id: str | None
    item_id: str | None
    events_since_ms: int
    _events: list[Any] | None = None
    _typed_events: list[Any] | None = None

    def user_events(self) -> list[Any]:
        """The user's newest ``RECENT_EVENTS`` events newer than the model, oldest first — read once
        per request.  Oldest first as training orders them (``picks.realtime.events_table``): by
        sentAt in whole seconds, then in the order they arrived, so the same history folded in here
        or trained on has the same newest items."""
        if self._events is None:
            self._events = []
            if self.user_id and self.group_arn and self.services.events is not None:
                self._events = sorted(
                    self.services.events.recent(
                        self.group_arn, self.user_id, limit=RECENT_EVENTS, since_ms=self.events_since_ms
                    ),
                    key=lambda event: int(event.sent_at),
                )  # stable: arrival order within a second
        return self._events

    def interaction_events(self) -> list[Any]:
        """The user's events newer than the model that interaction filters consider: the newest
        ``RECENT_EVENTS`` of each event type, with ``user_events`` (the same events, or events
        stored before the by-type entries existed) — read once per request, when a filter needs them."""
        if self._typed_events is None:
            events = self.user_events()
            # Fewer than RECENT_EVENTS since the model: that read held every event, so no type can
            # have more, and the per-type reads (1 + 2 queries a type) would find nothing new.
            complete = len(events) < RECENT_EVENTS
            if self.user_id and self.group_arn and self.services.events is not None and not complete:
                typed = self.services.events.recent_by_type(
                    self.group_arn, self.user_id, per_type=RECENT_EVENTS, since_ms=self.events_since_ms
                )
                known = {event.event_id for event in typed}
                events = typed + [event for event in events if event.event_id not in known]
            self._typed_events = events
        return self._typed_events

    def _trained_events(self) -> list[Any]:
        """``user_events`` with an item that the model's training would have kept (its solution's
        eventType and value thresholds): what fold-in, recent items and the seen items count."""
        return [
            event
            for event in self.user_events()
            if event.item_id and self.model.trains_on(event.event_type, event.event_value)
        ]

    def recent_items(self) -> list[str]:
        return [event.item_id for event in self._trained_events()]

    def recent_event_types(self) -> list[str]:
        """The event type of each of ``recent_items``, aligned with it."""
        return [event.event_type for event in self._trained_events()]

    def allowed(
        self, filter_arn: str | None, filter_values: dict[str, str] | None, field: str = "filterArn"
    ) -> np.ndarray | None:
        """The items ``filter_arn`` lets through for this request (None: no filter)."""
        if not filter_arn:
            return None
        resource = filter_resource(self.services, filter_arn)
        if resource.doc.get("datasetGroupArn") not in (None, self.group_arn):
            raise InvalidInputException(f"{field}: {filter_arn} belongs to another dataset group.")
        return self.allowed_by_expression(resource.doc["filterExpression"], filter_values, field, filter_arn)

    def allowed_by_expression(
        self,
        text: str,
        filter_values: dict[str, str] | None = None,
        field: str = "filterArn",
        name: str = "the use case's filter",
    ) -> np.ndarray:
        """The items the filter expression ``text`` lets through for this request (``name`` says
        whose expression it is in errors)."""
        expression = parse_cached(text)
        catalog = item_catalog(self.services, self.group_arn, self.model, self.model_key)
        needs_user = expression.uses_current_user
        needs_history = bool(expression.interaction_event_types)
        current = None
        if expression.uses_current_item:
            if not self.item_id:
                raise InvalidInputException(f"{field}: {name} uses CurrentItem, which needs an itemId.")
            current = catalog.current_item(self.item_id)
        return evaluate(
            expression,
            catalog,
            filter_values=filter_values or {},
            user=user_profile(self.services, self.group_arn, self.user_id) if needs_user else None,
            current_item=current,
            interactions=user_interactions(self.model, self.user_id, self.interaction_events())
            if needs_history
            else {},
        )

    def metadata(
        self, columns: list[str], item_ids: list[str], schema: DatasetSchema | None
    ) -> list[dict[str, str]]:
        """``metadata`` of each item: the requested Items columns as strings (null columns left out)."""
        if schema is not None:
            for column in columns:
                if schema.field(column) is None:
                    raise InvalidInputException(
                        f"metadataColumns: '{column}' is not a field of the ITEMS dataset's schema."
                    )
        catalog = item_catalog(self.services, self.group_arn, self.model, self.model_key)
        out = []
        for item_id in item_ids:
            values = catalog.current_item(item_id)
            entry = {}
            for column in columns:
                value = values.get(column.upper())
                if value is not None:
                    entry[column] = _text(value)
            out.append(entry)
        return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def items_schema(services: Services, group_arn: str) -> DatasetSchema | None:
    dataset = _dataset(services, group_arn, "ITEMS")
    return dataset_schema(services, dataset) if dataset is not None else None


def promote(
    ranked: Ranked, promoted: Ranked, count: int, seed: str
) -> tuple[list[int], list[float], set[int]]:
    """Merge ``promoted`` into ``ranked`` at random positions, keeping each list's own order.

    Returns (item indices, scores, positions holding promoted items).  The positions are drawn
    from the request's recommendation id, so one response is reproducible.
    """
    total = min(count, len(ranked.indices) + len(promoted.indices))
    n_promoted = min(len(promoted.indices), total)
    rng = random.Random(seed)
    slots = set(rng.sample(range(total), n_promoted)) if n_promoted else set()
    items: list[int] = []
    scores: list[float] = []
    p = r = 0
    for position in range(total):
        if position in slots:
            items.append(int(promoted.indices[p]))
            scores.append(float(promoted.scores[p]))
            p += 1
        else:
            items.append(int(ranked.indices[r]))
            scores.append(float(ranked.scores[r]))
            r += 1
    return items, scores, slots


def promoted_count(num_results: int, percent: int) -> int:
    return max(1, int(round(num_results * percent / 100.0))) if percent > 0 and num_results > 0 else 0


def combine(
    mask: np.ndarray | None, other: np.ndarray | None, op: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray | None:
    if mask is None:
        return other
    if other is None:
        return mask
    return op(mask, other)
