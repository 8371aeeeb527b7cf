"""The ten domain use cases' training (training/recipes/use_cases): on planted data each answers
what its name says, a use case short of its required events fails naming them with the counts, and
``training.train`` trains every use-case recipe name into an artifact the serving models answer from.

The planted data (``planted_rows``): 200 users in two taste clusters, each browsing (View / Click)
ten items mostly of their cluster's group and buying (Purchase / Watch) six of them, each purchase
its own basket (two days apart); planted on top:

* ``top-browse``: browsed by 160 users, never bought: the most browsed item;
* ``top-buy``: browsed and bought by 120 users: the most bought item, browsed less than ``top-browse``;
* ``anchor`` with ``co-browse`` (browsed together by 60 users, never bought), with ``co-buy``
  (bought together by 60 other users, in the same basket ten minutes apart, never browsed) and
  with ``later`` (bought by those 60 users three days after ``anchor``: outside its basket).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest import columnar
from picks.ingest.columnar import table_from_records
from picks.ingest.csv_reader import read_csv
from picks.model_artifact import load_dir, save_dir
from picks.serving.rankers import (
    FactorModel,
    PopularityModel,
    RankingRequest,
    SimsModel,
    TrendingModel,
    serving_model,
)

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.utils import METRIC_KEYS
from training import train
from training.data import TrainingDataError, TrainingJob, interactions_from_table, load_channel
from training.recipes import RECIPE_MODULES
from training.recipes.use_cases import USE_CASE_RECIPES, common
from training.recipes.use_cases import ecomm_frequently_bought_together as fbt

if TYPE_CHECKING:
    from pathlib import Path

START = 1_700_000_000
DAY = 86_400
USERS = 200
GROUP_ITEMS = 20
SMALL_ALS = {"hidden_dimension": "8", "als_iterations": "8"}
VOD = ("Click", "Watch")  # (browse, buy) event types of each domain
ECOMMERCE = ("View", "Purchase")


def planted_rows(browse: str, buy: str, seed: int = 3, buys_per_user: int = 6) -> list[tuple]:
    """(USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, SESSION_ID or "") rows; see the module docstring."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, GROUP_ITEMS + 1) ** 0.5
    weights /= weights.sum()
    rows: list[tuple] = []
    for user in range(USERS):
        cluster, start = user % 2, START + user * 30 * DAY
        own = rng.choice(GROUP_ITEMS, size=9, replace=False, p=weights)
        browsed = [f"g{cluster}-{i}" for i in own] + [f"g{1 - cluster}-{rng.integers(GROUP_ITEMS)}"]
        rows += [(f"u{user}", item, start + k * 3600, browse, "") for k, item in enumerate(browsed)]
        bought = [f"g{cluster}-{i}" for i in own[:buys_per_user]]
        rows += [(f"u{user}", item, start + (k + 1) * 2 * DAY, buy, "") for k, item in enumerate(bought)]
        at = start + 20 * DAY
        if user < 160:
            rows.append((f"u{user}", "top-browse", at, browse, ""))
        if user >= 80:
            rows += [(f"u{user}", "top-buy", at + 60, browse, ""), (f"u{user}", "top-buy", at + 120, buy, "")]
        if user < 60:
            rows += [
                (f"u{user}", "anchor", at + 200, browse, ""),
                (f"u{user}", "co-browse", at + 300, browse, ""),
            ]
        elif user < 120:
            rows += [
                (f"u{user}", "anchor", at + 200, buy, f"s{user}"),
                (f"u{user}", "co-buy", at + 800, buy, f"s{user}"),
                (f"u{user}", "later", at + 3 * DAY, buy, ""),
            ]
    return rows


SCHEMA = parse_schema(
    avro_schema(
        "Interactions",
        *USER_ITEM_TIME,
        ("EVENT_TYPE", "string"),
        {"name": "SESSION_ID", "type": ["null", "string"]},
    )
)
ITEMS_SCHEMA = parse_schema(avro_schema("Items", ("ITEM_ID", "string"), ("GENRES", "string", "categorical")))


def table_of(rows: list[tuple]):
    text = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,SESSION_ID\n" + "".join(
        ",".join(str(v) for v in row) + "\n" for row in rows
    )
    return read_csv(text.encode(), SCHEMA, "INTERACTIONS")


def items_of(rows: list[tuple]):
    names = sorted({row[1] for row in rows})
    return table_from_records(
        ITEMS_SCHEMA, "ITEMS", [(name, {"GENRES": name.split("-")[0]}) for name in names]
    )


def job_of(recipe: str, rows: list[tuple], *, items: bool = False, **config: Any) -> TrainingJob:
    table = table_of(rows)
    full = {"recipe": recipe, "seed": 5, **config}
    return TrainingJob(
        config=full,
        interactions=interactions_from_table(table, full),
        items=items_of(rows) if items else None,
        interactions_table=table,
    )


def trained(recipe: str, rows: list[tuple], **kwargs: Any):
    return serving_model(train.run(job_of(recipe, rows, **kwargs)))


def top(model, k: int = 5, **request: Any) -> list[str]:
    ranked = model.recommend_request(RankingRequest(**request), k)
    return model.item_ids[ranked.indices].tolist()


@pytest.fixture(scope="module")
def ecommerce() -> list[tuple]:
    return planted_rows(*ECOMMERCE)


@pytest.fixture(scope="module")
def vod() -> list[tuple]:
    return planted_rows(*VOD)


def test_every_use_case_is_a_registered_recipe_of_its_catalog_type():
    from picks.recipe_catalog import RECIPES

    names = {module.RECIPE for module in USE_CASE_RECIPES}
    assert names == {name for name, recipe in RECIPES.items() if recipe.domain is not None}
    for module in USE_CASE_RECIPES:
        assert RECIPE_MODULES[module.RECIPE] is module
        assert module.RECIPE_TYPE == RECIPES[module.RECIPE].recipe_type


def test_most_viewed_is_the_highest_view_count_and_best_sellers_the_highest_purchase_count(ecommerce):
    most_viewed = trained("aws-ecomm-popular-items-by-views", ecommerce)
    best_sellers = trained("aws-ecomm-popular-items-by-purchases", ecommerce)
    assert isinstance(most_viewed, PopularityModel) and isinstance(best_sellers, PopularityModel)
    assert top(most_viewed, 2, user_id="u1") == ["top-browse", "top-buy"]
    # top-browse has more views than anything, but no purchase: it is no best seller at all.
    assert top(best_sellers, 1, user_id="u1") == ["top-buy"]
    assert "top-browse" not in best_sellers.item_ids.tolist()
    assert "co-browse" not in best_sellers.item_ids.tolist() and "co-buy" not in most_viewed.item_ids.tolist()


def test_most_popular_counts_watches_not_clicks(vod):
    model = trained("aws-vod-most-popular", vod)
    assert top(model, 1, user_id="u1") == ["top-buy"]  # top-browse: clicked by more, watched by none
    assert "top-browse" not in model.item_ids.tolist()


def test_frequently_bought_together_puts_the_planted_co_purchase_first(ecommerce):
    model = trained("aws-ecomm-frequently-bought-together", ecommerce)
    assert isinstance(model, SimsModel)
    related = model.related("anchor", 5)
    # Bought by the same users as co-buy, but three days later: another basket, so no neighbour
    # (the rest of the list is best sellers, scored 0).
    neighbours = model.item_ids[related.indices[related.scores > 0]].tolist()
    assert neighbours == ["co-buy"]
    assert top(model, 1, item_id="co-buy") == ["anchor"]


def test_customers_who_viewed_x_also_viewed_puts_co_views_first_not_co_purchases(ecommerce):
    model = trained("aws-ecomm-customers-who-viewed-x-also-viewed", ecommerce)
    answer = top(model, 5, item_id="anchor", user_id="u1")
    assert answer[0] == "co-browse" and "co-buy" not in answer


def test_because_you_watched_x_puts_co_watches_first_not_co_clicks(vod):
    model = trained("aws-vod-because-you-watched-x", vod)
    answer = top(model, 5, item_id="anchor", user_id="u1")
    assert answer[0] in ("co-buy", "later")  # both watched with anchor by the same 60 users
    assert {"co-buy", "later"} <= set(answer[:2]) and "co-browse" not in answer


def test_more_like_x_blends_co_watching_and_metadata(vod):
    model = trained("aws-vod-more-like-x", vod, items=True)
    assert isinstance(model, SimsModel)
    answer = top(model, 5, item_id="anchor", user_id="u1")
    assert "co-browse" in answer and "co-buy" in answer  # every event type counts
    # A group item's neighbours come from its own group (co-watching and GENRES agree).
    assert all(item.startswith("g0-") for item in top(model, 5, item_id="g0-0", user_id="u1"))


@pytest.mark.parametrize(
    "recipe, rows", [("aws-vod-top-picks", "vod"), ("aws-ecomm-recommended-for-you", "ecommerce")]
)
def test_personalized_use_cases_beat_popularity_on_the_planted_tastes(recipe, rows, request):
    data = request.getfixturevalue(rows)
    config = {"solutionConfig": {"algorithmHyperParameters": SMALL_ALS}}
    personal = train.run(job_of(recipe, data, items=True, **config))
    popular = train.run(job_of("aws-popularity-count", data))
    assert personal.recipe_type == "USER_PERSONALIZATION" and personal.info["useCase"] == recipe
    assert set(personal.info["metrics"]) == METRIC_KEYS
    # The same holdout (seed 5): personalization finds the users' cluster, popularity cannot.
    assert personal.info["metrics"]["precision_at_10"] >= 1.3 * popular.info["metrics"]["precision_at_10"]
    model = serving_model(personal)
    assert isinstance(model, FactorModel)
    # Interacted items stay rankable (the use case's auto-filter runs at request time); among the
    # items u1 has not interacted with, the best are of u1's cluster.
    seen = model.history_items_of(model.user_index["u1"])
    cluster_one = model.item_ids[model.recommend("u1", 5, excluded=seen).indices].tolist()
    assert sum(item.startswith("g1-") for item in cluster_one) >= 4
    assert model.exclude_history is False


def test_trending_now_is_the_trending_model_over_every_event(vod):
    artifact = train.run(job_of("aws-vod-trending-now", vod))
    assert artifact.recipe == "aws-trending-now" and artifact.info["useCase"] == "aws-vod-trending-now"
    assert artifact.info["trend_window_seconds"] == 2 * 3600
    assert isinstance(serving_model(artifact), TrendingModel)


# --- data requirements -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipe, missing",
    [
        ("aws-ecomm-popular-items-by-purchases", "Purchase"),
        ("aws-ecomm-frequently-bought-together", "Purchase"),
        ("aws-ecomm-popular-items-by-views", "View"),
        ("aws-ecomm-customers-who-viewed-x-also-viewed", "View"),
        ("aws-vod-most-popular", "Watch"),
        ("aws-vod-because-you-watched-x", "Watch"),
    ],
)
def test_a_use_case_short_of_its_event_type_fails_naming_it_and_the_counts(recipe, missing):
    # 1200 browse events and 300 purchase-like ones: enough in all, too few of one type.
    rows = planted_rows("View" if missing != "View" else "Click", missing, buys_per_user=1)
    rows = [row for row in rows if row[1] in {f"g{c}-{i}" for c in (0, 1) for i in range(GROUP_ITEMS)}]
    job = job_of(recipe, rows)
    found = sum(row[3] == missing for row in rows)
    assert 0 < found < 1000 and len(rows) >= 1000
    with pytest.raises(TrainingDataError) as error:
        train.run(job)
    message = str(error.value)
    assert recipe in message and f"EVENT_TYPE '{missing}'" in message
    assert "at least 1000" in message and f"found {found} among {len(rows)}" in message


def test_event_types_match_case_insensitively(ecommerce):
    shouting = [(*row[:3], row[3].upper(), row[4]) for row in ecommerce]
    model = trained("aws-ecomm-popular-items-by-purchases", shouting)
    assert top(model, 1, user_id="u1") == ["top-buy"]


def test_the_overall_minimums_hold_for_every_use_case(ecommerce):
    few = ecommerce[:900]
    with pytest.raises(
        TrainingDataError, match=r"Recommended for you\) needs at least 1000 interactions; found 900"
    ):
        train.run(job_of("aws-ecomm-recommended-for-you", few))
    single = [(f"x{n}", *row[1:]) for n, row in enumerate(ecommerce)]  # everyone interacts once
    with pytest.raises(TrainingDataError, match="25 users with 2 or more interactions; found 0"):
        train.run(job_of("aws-vod-trending-now", single))


def test_use_cases_needing_items_say_so(vod):
    with pytest.raises(
        TrainingDataError, match=r"aws-vod-more-like-x \(More like X\) needs an Items dataset"
    ):
        train.run(job_of("aws-vod-more-like-x", vod))


def test_lowered_thresholds_train_small_data(monkeypatch, ecommerce):
    small = [row for row in ecommerce if int(row[0][1:]) < 40]  # 760 rows, 240 purchases
    with pytest.raises(TrainingDataError, match="found 760"):
        train.run(job_of("aws-ecomm-popular-items-by-purchases", small))
    monkeypatch.setattr(common, "MINIMUM_INTERACTIONS", 500)
    with pytest.raises(TrainingDataError, match="EVENT_TYPE 'Purchase'.*found 240 among 760"):
        train.run(job_of("aws-ecomm-popular-items-by-purchases", small))
    monkeypatch.setattr(common, "MINIMUM_EVENTS", 200)
    model = trained("aws-ecomm-popular-items-by-purchases", small)
    assert len(top(model, 5, user_id="u1")) == 5


def test_the_failure_reason_of_the_training_job_names_the_event_type(tmp_path, monkeypatch, vod):
    channel = write_channel(tmp_path, {"recipe": "aws-vod-most-popular"}, [r for r in vod if r[3] == "Click"])
    for name, value in {
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DIR": str(tmp_path / "output"),
        "SM_HPS": "{}",
    }.items():
        monkeypatch.setenv(name, value)
    assert train.main() == 1
    reason = (tmp_path / "output" / "failure").read_text()
    assert "aws-vod-most-popular (Most popular)" in reason and "EVENT_TYPE 'Watch'" in reason
    assert "found 0" in reason and "click" in reason


# --- baskets ---------------------------------------------------------------------------------


def test_baskets_are_sessions_else_windows_that_open_at_a_purchase():
    purchases = fbt.Purchases(
        users=np.array([0, 0, 0, 0, 1, 1, 0, 0]),
        user_ids=np.array(["a", "b"], dtype=object),
        items=np.array([0, 1, 2, 3, 0, 1, 4, 5]),
        item_ids=np.array(list("pqrstu"), dtype=object),
        timestamps=np.array([0, 3600, 23 * 3600, 25 * 3600, 0, 2 * DAY, 10, 5 * DAY]),
        sessions=np.array([-1, -1, -1, -1, -1, -1, 0, 0]),
    )
    numbers = fbt.basket_numbers(purchases, window=DAY).tolist()
    # The session's two purchases share a basket, days apart; the window opened at time 0 holds
    # 1 h and 23 h but not 25 h, which opens the next; user b's purchases two days apart split.
    assert numbers[6] == numbers[7]
    assert numbers[0] == numbers[1] == numbers[2] != numbers[3]
    assert numbers[4] != numbers[5] and numbers[4] not in numbers[:4]
    assert len(set(numbers)) == 5


def test_frequently_bought_together_without_sessions_uses_the_window(ecommerce):
    no_sessions = [(*row[:4], "") for row in ecommerce]
    model = trained("aws-ecomm-frequently-bought-together", no_sessions)
    assert top(model, 1, item_id="anchor") == ["co-buy"]  # 10 minutes apart: one window


# --- the training entry point ------------------------------------------------------------------


def write_channel(
    root: Path, config: dict[str, Any], rows: list[tuple], items: list[tuple] | None = None
) -> Path:
    channel = root / "input" / "data" / "train"
    (channel / "interactions").mkdir(parents=True)
    (channel / "config.json").write_text(json.dumps(config))
    tables = {"interactions": table_of(rows)}
    if items is not None:
        tables["items"] = items_of(items)
    for name, table in tables.items():
        (channel / name).mkdir(exist_ok=True)
        data, manifest = columnar.serialize(table)
        (channel / name / manifest["data"]["key"]).write_bytes(data)
        (channel / name / "manifest.json").write_text(json.dumps(manifest))
    return channel


@pytest.mark.parametrize("module", USE_CASE_RECIPES, ids=lambda module: module.RECIPE)
def test_each_use_case_trains_from_a_channel_into_a_servable_artifact(module, tmp_path, vod, ecommerce):
    rows = vod if module.RECIPE.startswith("aws-vod-") else ecommerce
    config = {"recipe": module.RECIPE, "seed": 3, "solutionConfig": {"algorithmHyperParameters": SMALL_ALS}}
    job = load_channel(write_channel(tmp_path / "job", config, rows, items=rows))
    artifact = train.run(job)
    assert artifact.info["useCase"] == module.RECIPE and artifact.recipe_type == module.RECIPE_TYPE
    assert set(artifact.info["metrics"]) == METRIC_KEYS
    save_dir(artifact, tmp_path / "model")
    model = serving_model(load_dir(tmp_path / "model"))
    answer = top(model, 10, user_id="u1", item_id="anchor", now=float(START + 400 * 30 * DAY))
    assert len(answer) == 10 and len(set(answer)) == 10
    if module.RECIPE_TYPE == "RELATED_ITEMS":
        assert "anchor" not in answer


@pytest.mark.parametrize("recipe", ["aws-vod-top-picks", "aws-ecomm-recommended-for-you"])
def test_automatic_updates_refresh_the_personalized_use_cases(recipe, vod):
    config = {"solutionConfig": {"algorithmHyperParameters": SMALL_ALS}}
    full = train.run(job_of(recipe, vod, items=True, **config))
    newcomer = [
        ("newcomer", item, START + 500 * 30 * DAY + n, "Watch", "") for n, item in enumerate(["g1-0", "g1-1"])
    ]
    update = job_of(recipe, vod + newcomer, items=True, trainingMode="UPDATE", **config)
    update.previous_model = full
    refreshed = train.run(update)
    assert refreshed.info["useCase"] == recipe and "newcomer" in refreshed.user_ids.tolist()
    # The item factors are the FULL model's: an update folds in, it does not refit.
    known = [full.item_ids.tolist().index(item) for item in refreshed.item_ids.tolist()[:5]]
    assert np.allclose(refreshed.arrays["item_factors"][:5], full.arrays["item_factors"][known])
    assert set(refreshed.info["metrics"]) == METRIC_KEYS
