"""Shortcuts on the GetRecommendations path (``picks.serving`` rankers, topk, repeats) give exactly the
answers of the long way round:

* ``top_k`` finds the best items of a large catalogue from a sampled threshold
  (``_smallest_sampled``) and partitions the whole catalogue only where that cannot settle the
  answer (equal scores at the cut, no finite threshold);
* ``blended_scores`` sums and scales only the recent items' neighbours, in a per-thread array that is
  left all zeros;
* ``RepeatTable.candidates`` answers "none" at once from a table with no entry above the threshold.
"""

from __future__ import annotations

import numpy as np
import pytest
from picks.serving import topk
from picks.serving.rankers import FactorModel
from picks.serving.repeats import RepeatTable, distinct_recent
from picks.serving.topk import top_k

from tests.unit.planted import fitted_ranking_model, planted
from tests.unit.test_scratch_buffers import assert_identical, reference_top_k

N = 60_000  # large enough for the sampled threshold at k = 25
K = 25


def catalogue(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(N).astype(np.float32)


def assert_top_k_as_reference(scores, k=K, excluded=None, allowed=None) -> None:
    got, expected = top_k(scores, k, excluded, allowed), reference_top_k(scores, k, excluded, allowed)
    assert_identical(got.indices, expected.indices)
    assert_identical(got.scores, expected.scores)


def test_distinct_best_scores_are_found_from_the_sample():
    scores = catalogue(1)
    assert topk._smallest_sampled(-scores, K) is not None  # the shortcut settles it
    assert_top_k_as_reference(scores)
    rng = np.random.default_rng(2)
    excluded = np.concatenate([np.argsort(-scores)[:40], rng.integers(0, N, 500)])  # the best ones, twice
    allowed = rng.random(N) < 0.3
    assert_top_k_as_reference(scores, excluded=excluded)
    assert_top_k_as_reference(scores, excluded=excluded, allowed=allowed)
    assert_top_k_as_reference(scores.astype(np.float64), excluded=excluded)
    assert_top_k_as_reference(scores, k=1)


@pytest.mark.parametrize("where", [0, K - 2, K - 1, K])  # among the best, at the cut, past it
@pytest.mark.parametrize("tie", ["equal", "signed zeros"])
def test_equal_scores_among_the_best_fall_back_to_the_partition(where, tie):
    """Two equal scores at ranks ``where + 1`` and ``where + 2``: up to the cut (rank ``K + 1``) which
    comes first is the partition's choice; past it the sample settles the answer."""
    scores = catalogue(3)
    best = np.argsort(-scores, kind="stable")
    if tie == "equal":
        scores[best[where + 1]] = scores[best[where]]
    else:  # distinct positive scores above +0.0 and -0.0, every other one negative
        scores = -np.abs(scores) - np.float32(1e-3)
        scores[best[:where]] = np.linspace(30.0, 20.0, where, dtype=np.float32)
        scores[best[where]], scores[best[where + 1]] = 0.0, -0.0
    assert (topk._smallest_sampled(-scores, K) is None) == (where < K)
    assert_top_k_as_reference(scores)
    for seed in range(5):  # where the tie falls among the catalogue's order
        shuffled = np.random.default_rng(seed).permutation(scores)
        assert_top_k_as_reference(shuffled)


def test_non_finite_scores_and_mostly_excluded_catalogues():
    scores = catalogue(4)
    rng = np.random.default_rng(5)
    scores[rng.integers(0, N, 50)] = np.nan
    scores[rng.integers(0, N, 3)] = np.inf
    scores[rng.integers(0, N, 3)] = -np.inf
    assert_top_k_as_reference(scores)
    assert_top_k_as_reference(scores, excluded=np.flatnonzero(np.isinf(scores)))
    few = np.zeros(N, dtype=bool)
    few[rng.integers(0, N, 10)] = True  # fewer allowed than asked for: the sample's threshold is +inf
    assert topk._smallest_sampled(np.where(few, -scores, np.inf).astype(np.float32), K) is None
    assert_top_k_as_reference(scores, allowed=few)
    assert_top_k_as_reference(np.full(N, np.nan, dtype=np.float32))


# --- blended_scores' neighbour part ----------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> FactorModel:
    served = FactorModel(fitted_ranking_model(planted(items_per_group=50, seed=6), iterations=3, seed=2))
    assert served.recent_weight > 0 and served.neighbors is not None
    return served


def reference_blended(model: FactorModel, vector: np.ndarray, last: np.ndarray) -> np.ndarray:
    """``blended_scores`` as it was: every operation on catalogue-long fresh arrays."""
    score = model.item_factors @ vector
    top = float(max(score.max(), -score.min()))
    if top > 0:
        score /= top
    near = np.zeros(model.item_count, dtype=np.float32)
    decay = np.array([model.recent_decay**p for p in range(len(last))], dtype=np.float32)
    rows = model.neighbors[last]
    valid = rows >= 0
    np.add.at(near, rows[valid], (model.neighbor_scores[last] * decay[:, None])[valid])
    peak = near.max()
    if peak > 0:
        near *= model.recent_weight
        near /= peak
        score += near
    return score


def zeros_left(model: FactorModel) -> bool:
    near = topk.zeroed_scratch_array("blended_scores.near", model.item_count, np.float32)
    return not near.any()


def test_neighbour_part_is_added_as_on_every_item_and_its_array_left_zeroed(model):
    rng = np.random.default_rng(7)
    for _ in range(20):
        vector = model.user_factors[int(rng.integers(0, len(model.user_factors)))]
        last = rng.integers(0, model.item_count, int(rng.integers(1, 12)))
        last[-1] = last[0]  # an item twice among the last: its neighbours summed twice
        assert_identical(model.blended_scores(vector, last), reference_blended(model, vector, last))
        assert zeros_left(model)
    assert_identical(model.blended_scores(vector, last[:0]), reference_blended(model, vector, last[:0]))


def test_neighbour_sums_that_are_not_positive_add_nothing(model, monkeypatch):
    monkeypatch.setattr(model, "neighbor_scores", -np.abs(model.neighbor_scores))
    vector, last = model.user_factors[0], np.arange(5)
    expected = reference_blended(model, vector, last)
    assert_identical(model.blended_scores(vector, last), expected)
    assert_identical(expected, reference_blended(model, vector, last[:0]))  # nothing was added
    assert zeros_left(model)


# --- repeat candidates ---------------------------------------------------------------------------


def test_a_table_below_its_threshold_has_no_candidates_without_lookups(monkeypatch):
    items, types = np.array([4, 2, 4, 9]), np.zeros(4, np.int64)
    never = RepeatTable(np.full((5, 2, 3), 0.2, np.float32), {"click": 0}, threshold=0.2)
    assert never.never
    monkeypatch.setattr("picks.serving.repeats.distinct_recent", pytest.fail)  # not even looked up
    found = never.candidates(items, types)
    assert len(found[0]) == 0 and found[0].dtype == np.int64 and found[1].dtype == np.float32
    monkeypatch.setattr("picks.serving.repeats.distinct_recent", distinct_recent)
    above = RepeatTable(np.full((5, 2, 3), 0.2, np.float32), {"click": 0}, threshold=0.1)
    assert not above.never
    assert above.candidates(items, types)[0].tolist() == [4, 2, 9]
    with_nan = RepeatTable(np.full((5, 2, 3), np.nan, np.float32), {"click": 0}, threshold=0.1)
    assert not with_nan.never  # unknown: looked up (and NaN is above no threshold)
    assert len(with_nan.candidates(items, types)[0]) == 0


# --- request headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Encoding": "gzip", "Authorization": "AWS4-HMAC-SHA256 Credential=x"},
        {"content-encoding": "identity", "CONTENT-ENCODING": "gzip"},  # differing in case: the last
        {"Host": "127.0.0.1"},
        {},
        None,
    ],
)
def test_request_header_answers_as_the_case_insensitive_headers(headers):
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
    from picks.http import request_header

    app = APIGatewayRestResolver()
    app.current_event = APIGatewayProxyEvent({"headers": headers, "httpMethod": "POST", "path": "/"})
    for name in ("Content-Encoding", "content-encoding", "Authorization", "X-Amz-Target"):
        assert request_header(app, name) == app.current_event.headers.get(name)
    if headers and "CONTENT-ENCODING" in headers:
        assert request_header(app, "Content-Encoding") == "gzip"
