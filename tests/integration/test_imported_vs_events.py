"""One user's answer is the same whether their history was imported (it is in the model) or sent
with PutEvents after training (the model has never seen them: fold-in).

The data has the MovieLens / Personalize POC shape: a ``click`` for every rating and a ``watch`` of
the same movie at the same second for the good ones, click rows first.  Whatever path the history
takes, the user's newest items and their latest event types (the recent-item neighbours, the
repeat features), the items excluded as seen, and the training export of the events must agree —
and, given the vector the events fold into, so must the whole list and its scores.  (The model's
own vector for a trained user is ALS's, not one exact solve against the final item factors: that
part differs by design, so the last comparison gives the known user the folded-in vector.)
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from picks.dal.event_store import StoredEvent
from picks.dataset_schema import parse_schema
from picks.ingest.columnar import concat
from picks.ingest.csv_reader import read_csv
from picks.realtime import events_table
from picks.serving import batch_ranking
from picks.serving.rankers import FactorModel

from demo.schemas import USER_ITEM_TIME, avro_schema
from training.data import interactions_from_table
from training.recipes import user_personalization
from training.recipes.common import resolved_hyperparameters

SCHEMA = parse_schema(avro_schema("Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string")))
PARAMS = resolved_hyperparameters(
    "aws-user-personalization",
    {
        "hidden_dimension": "8",
        "als_iterations": "6",
        "exclude_interacted_items": "true",
        "repeat_threshold": "0.05",
    },
)
USER = "u7"


def poc_rows(seed: int = 4, users: int = 80, items: int = 60) -> list[tuple[str, str, int, str]]:
    """(user, item, second, type): clicks of every rating, then watches of the good ones at the same
    seconds, stably sorted by time (the notebook's preparation)."""
    rng = np.random.default_rng(seed)
    clicks, watches = [], []
    for user in range(users):
        cluster = user % 3
        chosen = rng.choice(np.arange(cluster * 20, cluster * 20 + 20), size=14, replace=False)
        chosen[-2:] = rng.integers(0, items, size=2)  # a little outside the user's group
        seconds = 1_600_000_000 + user * 50 + np.sort(rng.integers(0, 6, size=len(chosen)))  # many ties
        for item, second in zip(chosen.tolist(), seconds.tolist(), strict=True):
            clicks.append((f"u{user}", f"i{item}", second, "click"))
            if rng.random() < 0.6:
                watches.append((f"u{user}", f"i{item}", second, "watch"))
    rows = clicks + watches
    return [rows[i] for i in np.argsort([r[2] for r in rows], kind="stable")]


def table_of(rows):
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE", *(f"{u},{i},{t},{e}" for u, i, t, e in rows)]
    return read_csv("\n".join(lines).encode(), SCHEMA, "INTERACTIONS")


def as_events(rows) -> list[StoredEvent]:
    """The user's rows sent with PutEvents in their order, one event per row."""
    return [
        StoredEvent(
            event_id=f"e{n}",
            session_id="s",
            user_id=u,
            event_type=e,
            sent_at=float(t),
            item_id=i,
            received_ms=1_700_000_000_000 + n,
        )
        for n, (u, i, t, e) in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def rows():
    return poc_rows()


@pytest.fixture(scope="module")
def model(rows) -> FactorModel:
    interactions = interactions_from_table(table_of(rows), {})
    return FactorModel(user_personalization.fit(interactions, PARAMS, seed=1))


def test_the_history_dependent_parts_agree(model, rows):
    mine = [r for r in rows if r[0] == USER]
    assert any(r[3] == "watch" for r in mine), "the user's data has click/watch ties"
    known = model._context(USER, (), ())
    folded = model._context("never-trained", [r[1] for r in mine], [r[3] for r in mine])
    # Same newest items (neighbour blend) with the same latest event types (repeat features) ...
    np.testing.assert_array_equal(known[2], folded[2])
    np.testing.assert_array_equal(known[3], folded[3])
    # ... so the same items recommended again, and the same items left out as seen.
    for a, b in zip(
        model.repeat_candidates(known[2], known[3]),
        model.repeat_candidates(folded[2], folded[3]),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert sorted(known[1].tolist()) == sorted(folded[1].tolist())
    # The confidences the user's vector solves with are the same too.
    items, weights = model.history(model.user_index[USER])
    fresh_items, fresh_weights = model.interactions_for(
        None, folded_items := model.indices_of(r[1] for r in mine)
    )
    assert len(folded_items) == len(mine)
    order = np.argsort(items)
    np.testing.assert_array_equal(items[order], fresh_items)
    np.testing.assert_allclose(weights[order], fresh_weights, rtol=1e-6)


def test_the_same_history_gets_the_same_answer(model, rows):
    mine = [r for r in rows if r[0] == USER]
    user = model.user_index[USER]
    artifact = copy.deepcopy(model.artifact)
    artifact.arrays["user_factors"] = artifact.arrays["user_factors"].copy()
    artifact.arrays["user_factors"][user] = model.fold_in(*model.history(user))
    same_vector = FactorModel(artifact)
    imported = same_vector.recommend(USER, 25)
    sent = same_vector.recommend(
        "never-trained", 25, recent=[r[1] for r in mine], recent_types=[r[3] for r in mine]
    )
    assert imported.indices.tolist() == sent.indices.tolist()
    np.testing.assert_allclose(imported.scores, sent.scores, rtol=1e-4)
    # The batch paths (offline metrics) agree as well.
    known_batch = batch_ranking.recommend_known_users(same_vector, np.array([user]), 25)
    types = [np.array([same_vector.repeats.type_code(r[3]) for r in mine])]
    sequence_batch = batch_ranking.recommend_sequences(
        same_vector, [same_vector.indices_of(r[1] for r in mine)], 25, types
    )
    np.testing.assert_array_equal(known_batch, sequence_batch)
    assert known_batch[0].tolist() == imported.indices.tolist()


def test_events_exported_for_training_are_the_imported_rows(rows):
    """Trained from the bulk data without the user plus the user's events (the Prepare step's
    export, shard order scrambled), the user's recent items and types are those of the import."""
    mine = [r for r in rows if r[0] == USER]
    scrambled = as_events(mine)[::-1]  # the export reads shard by shard: any order
    exported = concat([events_table(scrambled), table_of([r for r in rows if r[0] != USER])])
    imported = user_personalization.recent_items(interactions_from_table(table_of(rows), {}), with_types=True)
    streamed = user_personalization.recent_items(
        interactions := interactions_from_table(exported, {}), with_types=True
    )
    reference = interactions_from_table(table_of(rows), {})

    def of_user(recent, data):
        user = data.user_ids.tolist().index(USER)
        lo, hi = recent[0][user], recent[0][user + 1]
        return [data.item_ids[i] for i in recent[1][lo:hi]], recent[2][lo:hi].tolist()

    assert of_user(imported, reference) == of_user(streamed, interactions)


# --- the solution's eventType / eventValueThreshold / eventsConfig --------------------------------

CONFIGS = [
    {"eventType": "WATCH"},
    {
        "solutionConfig": {
            "eventsConfig": {
                "eventParametersList": [
                    {"eventType": "click", "weight": 0.3},
                    {"eventType": "Watch", "weight": 2.0},
                ]
            }
        }
    },
]


class _Events:
    """The event store as ``RequestRules`` reads it: the user's events, newest ``limit``, oldest first."""

    def __init__(self, events: list[StoredEvent]) -> None:
        self.events = events

    def recent(self, group_arn, subject, *, limit, since_ms):  # noqa: ANN001, ANN201
        return [e for e in self.events if e.subject == subject][-limit:]


@pytest.mark.parametrize("config", CONFIGS, ids=["eventType", "eventsConfig"])
def test_events_are_folded_in_as_training_keeps_and_weighs_the_rows(rows, config):
    from picks.serving.business_rules import RequestRules

    from training.data import event_rule

    table = table_of(rows)
    artifact = user_personalization.fit(interactions_from_table(table, config), PARAMS, seed=1)
    artifact.info["eventRule"] = event_rule(table, config)  # as training/train.py stores it
    model = FactorModel(artifact)
    mine = [r for r in rows if r[0] == USER]
    events = [StoredEvent(**{**e.__dict__, "user_id": "never-trained"}) for e in as_events(mine)]
    services = type("Services", (), {"events": _Events(events)})()
    rules = RequestRules(services, "group", model, "m", "never-trained", None, 0)  # type: ignore[arg-type]
    recent, types = rules.recent_items(), rules.recent_event_types()
    assert len(recent) < len(mine) or "eventsConfig" in str(config)  # eventType: the clicks are left out
    known = model._context(USER, (), ())
    folded = model._context("never-trained", recent, types)
    np.testing.assert_array_equal(known[2], folded[2])
    np.testing.assert_array_equal(known[3], folded[3])
    assert sorted(known[1].tolist()) == sorted(folded[1].tolist())
    items, weights = model.history(model.user_index[USER])
    order = np.argsort(items)
    fresh_items, fresh_weights = model.interactions_for(
        None, model.indices_of(recent), model._fresh(recent, types)[1]
    )
    np.testing.assert_array_equal(items[order], fresh_items)
    np.testing.assert_allclose(weights[order], fresh_weights, rtol=1e-6)


def test_the_runtime_rule_is_the_training_filter_row_by_row():
    from picks.serving.rankers import EventRule

    from training.data import _event_filter, event_rule

    schema = parse_schema(
        avro_schema(
            "Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string"), ("EVENT_VALUE", ["null", "float"])
        )
    )
    rng = np.random.default_rng(2)
    kinds = ["click", "Click", "watch", "purchase"]
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"] + [
        f"u{n % 7},i{n % 11},{1_600_000_000 + n},{kinds[rng.integers(4)]},"
        f"{'' if n % 5 == 0 else rng.integers(0, 6)}"
        for n in range(300)
    ]
    table = read_csv("\n".join(lines).encode(), schema, "INTERACTIONS")
    configs = [
        {},
        {"eventType": "Click"},
        {"solutionConfig": {"eventValueThreshold": "3"}},
        {"eventType": "watch", "solutionConfig": {"eventValueThreshold": "2"}},
        {
            "solutionConfig": {
                "eventsConfig": {
                    "eventParametersList": [
                        {"eventType": "click", "weight": 0.3, "eventValueThreshold": 2},
                        {"eventType": "CLICK", "weight": 0.7, "eventValueThreshold": 4},
                        {"eventType": "purchase", "weight": 3},
                    ]
                }
            }
        },
    ]
    row_types = [str(v) for v in table["EVENT_TYPE"].decoded().tolist()]
    values = table["EVENT_VALUE"].data.astype(np.float64)
    values[table["EVENT_VALUE"].null] = np.nan
    for config in configs:
        mask, weights = _event_filter(table, config)
        expected = np.where(np.ones(len(values), bool) if mask is None else mask, weights, 0.0)
        rule = EventRule.from_info(event_rule(table, config))
        got = [
            1.0 if rule is None else rule.weight(t, None if np.isnan(v) else v)
            for t, v in zip(row_types, values.tolist(), strict=True)
        ]
        np.testing.assert_allclose(got, expected, err_msg=str(config))
