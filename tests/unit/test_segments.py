"""picks.serving.segments: the attribute-query grammar, blocked top-users scoring and the limits a
batch segment job relies on."""

from __future__ import annotations

import numpy as np
import pytest
from picks.model_artifact import ModelArtifact, deserialize, serialize
from picks.serving import segments
from picks.serving.segments import (
    Condition,
    QueryError,
    SegmentInputError,
    SegmentModel,
    parse_query,
    top_users,
    users_for_attributes,
    users_for_items,
)


def segment_artifact(n_users: int = 50, n_items: int = 6, k: int = 4, seed: int = 0) -> ModelArtifact:
    rng = np.random.default_rng(seed)
    genres = np.array([0, 1, 2, 0, -1, 1], dtype=np.int32)[:n_items]
    return ModelArtifact(
        recipe="aws-item-attribute-affinity",
        recipe_type="USER_SEGMENTATION",
        item_ids=np.array([f"i{i}" for i in range(n_items)], dtype=object),
        user_ids=np.array([f"u{u}" for u in range(n_users)], dtype=object),
        arrays={
            "user_factors": rng.normal(size=(n_users, k)).astype(np.float32),
            "item_factors": rng.normal(size=(n_items, k)).astype(np.float32),
            "popularity": np.ones(n_items, np.float32),
            "attribute_codes.GENRES": genres,
            "attribute_numbers.PRICE": np.array([1.0, 2.0, 2.0, np.nan, 5.5, 1.0]),
        },
        strings={"attribute_values.GENRES": np.array(["Comedy|Action", "Action", "Drama"], dtype=object)},
        info={"itemAttributes": {"GENRES": "categorical", "PRICE": "numeric"}},
    )


@pytest.fixture
def model() -> SegmentModel:
    manifest, data = serialize(segment_artifact())
    return SegmentModel(deserialize(manifest, data))  # as a batch job loads it


# --- the grammar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "conditions"),
    [
        ('ITEMS.genres = "Comedy"', [("GENRES", "Comedy")]),
        (
            'ITEMS.genres = "Comedy" AND ITEMS.genres = "Action"',
            [("GENRES", "Comedy"), ("GENRES", "Action")],
        ),
        ('items.Audience="teen" and ITEMS.PRICE = 9.5', [("AUDIENCE", "teen"), ("PRICE", 9.5)]),
        (r'ITEMS.TITLE = "say \"hi\""', [("TITLE", 'say "hi"')]),
        ("  ITEMS.PRICE = -2  ", [("PRICE", -2.0)]),
    ],
)
def test_accepted_queries(text, conditions):
    query = parse_query(text)
    assert query.text == text
    assert query.conditions == tuple(Condition(name, value) for name, value in conditions)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ('ITEMS.genres != "Comedy"', "expected '=' after ITEMS.genres, found !="),
        ('ITEMS.genres IN ("Comedy")', "expected '=' after ITEMS.genres, found IN"),
        (
            'ITEMS.genres = "Comedy" OR ITEMS.genres = "Action"',
            "expected AND or the end of the query, found OR",
        ),
        ('USERS.genres = "Comedy"', "expected ITEMS, found USERS"),
        ('genres = "Comedy"', "expected ITEMS, found genres"),
        ('ITEMS genres = "Comedy"', "expected '.' after ITEMS"),
        ("ITEMS.genres = Comedy", "a quoted value"),
        ('ITEMS.genres = "Comedy" AND', "expected ITEMS, found the end of the query"),
        ('(ITEMS.genres = "Comedy")', "expected ITEMS, found ("),
        ('ITEMS.genres > "Comedy"', "found >"),
    ],
)
def test_rejected_queries_name_the_query_and_the_grammar(text, expected):
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    message = str(caught.value)
    assert message.startswith("itemAttributes: ")
    assert expected in message
    if text:
        assert text[:30] in message and "only = and AND" in message


def test_long_queries_are_quoted_only_in_part():
    text = 'ITEMS.genres = "' + "x" * 500 + '" OR'
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert "x" * 100 not in str(caught.value)


# --- matching items ------------------------------------------------------------------------------


def matched(model: SegmentModel, text: str) -> list[str]:
    return model.item_ids[segments.matching_items(model, parse_query(text))].tolist()


def test_categorical_values_split_on_the_separator_and_and_intersects(model):
    assert matched(model, 'ITEMS.GENRES = "Action"') == ["i0", "i1", "i3", "i5"]
    assert matched(model, 'ITEMS.genres = "Comedy"') == ["i0", "i3"]
    assert matched(model, 'ITEMS.GENRES = "Comedy" AND ITEMS.GENRES = "Action"') == ["i0", "i3"]
    assert matched(model, 'ITEMS.GENRES = "Drama" AND ITEMS.GENRES = "Action"') == []
    assert matched(model, 'ITEMS.GENRES = "comedy"') == []  # values match exactly, as filters do


def test_numeric_fields_compare_as_numbers(model):
    assert matched(model, "ITEMS.PRICE = 2") == ["i1", "i2"]
    assert matched(model, 'ITEMS.PRICE = "5.5"') == ["i4"]
    assert matched(model, 'ITEMS.PRICE = 2 AND ITEMS.GENRES = "Action"') == ["i1"]
    with pytest.raises(QueryError, match="ITEMS.PRICE is numeric; 'cheap' is not a number"):
        matched(model, 'ITEMS.PRICE = "cheap"')


def test_unknown_fields_list_the_attributes_the_model_has(model):
    with pytest.raises(QueryError, match=r"ITEMS.COLOR, which is not an attribute .*GENRES, PRICE"):
        matched(model, 'ITEMS.color = "red"')


# --- scoring -------------------------------------------------------------------------------------


def brute_force(model: SegmentModel, vector: np.ndarray, k: int, mask: np.ndarray | None = None):
    scores = model.user_factors @ vector
    candidates = np.arange(model.user_count) if mask is None else np.flatnonzero(mask)
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
    return order, scores[order]


@pytest.mark.parametrize("block_rows", [1, 7, 50, 1000])
def test_blocked_top_users_equal_one_full_product(model, block_rows):
    vectors = model.item_factors[[0, 2, 5]]
    mask = np.arange(model.user_count) % 3 != 0
    for k, user_mask in ((1, None), (10, None), (10, mask), (60, mask)):
        ranked = top_users(model, vectors, k, user_mask, block_rows=block_rows)
        for (indices, scores), vector in zip(ranked, vectors, strict=True):
            expected, expected_scores = brute_force(model, vector, k, user_mask)
            np.testing.assert_array_equal(indices, expected)
            np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)


def test_ties_go_to_the_lower_user_index_across_blocks():
    artifact = segment_artifact(n_users=20)
    artifact.arrays["user_factors"][:] = 1.0  # every user scores the same (exactly: small integers)
    artifact.arrays["item_factors"][:] = 2.0
    model = SegmentModel(artifact)
    ((indices, _),) = top_users(model, model.item_factors[:1], 5, block_rows=3)
    assert indices.tolist() == [0, 1, 2, 3, 4]


def test_users_for_items_answers_each_line_and_errors_unknown_items(model):
    answers = users_for_items(model, ["i2", "nope", "i0"], 5)
    assert [a.error is None for a in answers] == [True, False, True]
    assert "item 'nope' was not in the solution version's training data" in (answers[1].error or "")
    expected, _ = brute_force(model, model.item_factors[2], 5)
    assert answers[0].users == [f"u{u}" for u in expected]
    assert answers[0].scores == sorted(answers[0].scores, reverse=True)
    mask = np.zeros(model.user_count, dtype=bool)
    mask[[3, 4]] = True
    assert sorted(users_for_items(model, ["i0"], 5, mask)[0].users) == ["u3", "u4"]


def test_users_for_attributes_scores_the_mean_of_the_matching_items(model):
    good, bad, empty = users_for_attributes(
        model, ['ITEMS.GENRES = "Comedy"', "ITEMS.GENRES ~ 1", 'ITEMS.GENRES = "Horror"'], 7
    )
    expected, _ = brute_force(model, model.item_factors[[0, 3]].mean(axis=0), 7)
    assert good.users == [f"u{u}" for u in expected] and good.error is None
    assert bad.users == [] and "not a valid attribute query" in (bad.error or "")
    assert "no item in the solution version's training data matches" in (empty.error or "")


def test_documented_limits():
    model = SegmentModel(segment_artifact())
    with pytest.raises(SegmentInputError, match="at most 500"):
        users_for_items(model, ["i0"] * 501)
    with pytest.raises(SegmentInputError, match="at most 10"):
        users_for_attributes(model, ['ITEMS.GENRES = "Drama"'] * 11)
    for bad in (0, 5_000_001):
        with pytest.raises(SegmentInputError, match="numResults"):
            users_for_items(model, ["i0"], bad)
    assert len(users_for_items(model, ["i0"] * 500, 5_000_000)[0].users) == model.user_count


def test_only_segmentation_artifacts_load():
    artifact = segment_artifact()
    artifact.recipe, artifact.recipe_type = "aws-user-personalization", "USER_PERSONALIZATION"
    with pytest.raises(SegmentInputError, match="need a USER_SEGMENTATION recipe"):
        SegmentModel(artifact)
