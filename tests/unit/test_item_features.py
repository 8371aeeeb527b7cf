"""The metadata featurizer (training/features.py) on tiny ITEMS tables."""

from __future__ import annotations

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest.columnar import table_from_records

from demo.schemas import avro_schema
from training.features import featurize, tfidf, tokens

SCHEMA = parse_schema(
    avro_schema(
        "Items",
        ("ITEM_ID", "string"),
        ("GENRES", "string", "categorical"),
        ("PRICE", ["null", "float"]),
        ("DESCRIPTION", ["null", "string"], "textual"),
        ("CREATION_TIMESTAMP", "long"),
    )
)


def table(rows: dict[str, tuple[str, float | None, str | None]]):
    return table_from_records(
        SCHEMA,
        "ITEMS",
        [
            (item, {"GENRES": genres, "PRICE": price, "DESCRIPTION": text, "CREATION_TIMESTAMP": 7})
            for item, (genres, price, text) in rows.items()
        ],
    )


ROWS = {
    "a": ("Comedy|Drama", 1.0, "A funny film about a dog and a cat"),
    "b": ("Drama", 2.0, "A sad film about a dog"),
    "c": ("Horror", 90.0, "A scary night in the woods"),
    "d": ("Drama", 95.0, "The woods at night"),
}


def cosine(features, ids, x: str, y: str) -> float:
    rows = {item: i for i, item in enumerate(ids)}
    return float((features.matrix[rows[x]] @ features.matrix[rows[y]].T).toarray()[0, 0])


def test_rows_are_unit_length_and_an_id_without_metadata_is_zero():
    ids = ["a", "b", "c", "d", "unknown"]
    features = featurize(ids, table(ROWS))
    norms = np.sqrt(np.asarray(features.matrix.multiply(features.matrix).sum(axis=1)).ravel())
    assert norms[:4] == pytest.approx(np.ones(4), abs=1e-6)
    assert norms[4] == 0 and features.has_metadata.tolist() == [True] * 4 + [False]
    # The reserved CREATION_TIMESTAMP is no feature; every metadata field is a group.
    assert set(features.groups) == {"GENRES", "PRICE", "DESCRIPTION"}
    assert not any(name.startswith("CREATION_TIMESTAMP") for name in features.names)


def test_categorical_values_are_split_and_one_hot():
    features = featurize(["a", "b", "c"], table(ROWS), weights={"PRICE": 0, "DESCRIPTION": 0})
    assert features.names == ["GENRES=Comedy", "GENRES=Drama", "GENRES=Horror"]
    dense = features.matrix.toarray()
    assert (dense[0] > 0).tolist() == [True, True, False]  # "Comedy|Drama": both values
    assert cosine(features, "abc", "a", "b") > 0  # share Drama
    assert cosine(features, "abc", "a", "c") == 0


def test_a_rare_shared_value_counts_more_than_a_common_one():
    rows = {
        "x1": ("Noir|Drama", None, None),
        "x2": ("Noir|Comedy", None, None),
        "y1": ("Drama|Action", None, None),
        "y2": ("Drama|Western", None, None),
        "z": ("Drama", None, None),
    }
    ids = list(rows)
    features = featurize(ids, table(rows))
    # x1/x2 share the rare Noir; y1/y2 the common Drama (their other values equally rare).
    assert cosine(features, ids, "x1", "x2") > cosine(features, ids, "y1", "y2") > 0


def test_text_is_tf_idf_of_words_shared_by_two_rows():
    assert tokens("The Dog's 2 dogs, a_b") == ["dog", "dogs"]
    documents = ["dog dog cat", "dog bird", "fish"]
    matrix, words = tfidf(documents, np.array([0, 1, 2, -1]), min_df=2)
    assert words == [":dog"]  # cat, bird and fish are in one row each
    idf = np.log(5 / 3) + 1  # smoothed: ln((1 + rows) / (1 + df)) + 1, rows = 4
    assert matrix.toarray()[:, 0] == pytest.approx([(1 + np.log(2)) * idf, idf, 0, 0])
    features = featurize(list(ROWS), table(ROWS), weights={"GENRES": 0, "PRICE": 0})
    ids = list(ROWS)
    # a and b share "film" and "dog"; c and d "woods" and "night"; a and c nothing but stop words.
    assert cosine(features, ids, "a", "b") > 0.5 and cosine(features, ids, "c", "d") > 0.5
    assert cosine(features, ids, "a", "c") == 0
    assert ":the" not in features.names and ":a" not in features.names


def test_numbers_binned_or_standardized():
    rows = {f"p{i}": ("Drama", float(price), None) for i, price in enumerate([1, 2, 3, 50, 51, 52, 100])}
    rows["none"] = ("Drama", None, None)
    ids = list(rows)
    binned = featurize(ids, table(rows), weights={"GENRES": 0}, numeric="binned")
    assert cosine(binned, ids, "p0", "p0") == pytest.approx(1.0)
    assert cosine(binned, ids, "p0", "p6") == 0  # far apart: different bins
    assert not binned.has_metadata[ids.index("none")]
    standardized = featurize(ids, table(rows), weights={"GENRES": 0}, numeric="standardized")
    assert standardized.names == ["PRICE"]
    column = standardized.matrix.toarray()[:, 0]
    # Only the one column: rows normalise to ±1 (the sign of the z-score); null sits at the mean.
    assert column[0] == pytest.approx(-1.0) and column[6] == pytest.approx(1.0) and column[7] == 0


def test_field_weights_shift_the_similarity():
    ids = list(ROWS)
    text_heavy = featurize(ids, table(ROWS), weights={"GENRES": 0.1, "DESCRIPTION": 3.0, "PRICE": 0})
    genre_heavy = featurize(ids, table(ROWS), weights={"GENRES": 3.0, "DESCRIPTION": 0.1, "PRICE": 0})
    # b and d share only Drama; c and d only words.
    assert cosine(genre_heavy, ids, "b", "d") > cosine(text_heavy, ids, "b", "d")
    assert cosine(text_heavy, ids, "c", "d") > cosine(genre_heavy, ids, "c", "d")


def test_no_table_gives_no_columns():
    features = featurize(["a", "b"], None)
    assert features.matrix.shape == (2, 0) and not features.has_metadata.any()
