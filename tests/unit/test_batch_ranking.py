"""The offline batch ranking (``top_k_rows``, ``FactorModel.recommend_sequences`` /
``recommend_known_users``) on catalogs large enough for its sampled-threshold path: the same lists
as ``top_k`` and ``recommend``, ties included."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from picks.serving import batch_ranking
from picks.serving.batch_ranking import TOP_K_SAMPLE_STRIDE, top_k_rows
from picks.serving.rankers import FactorModel
from picks.serving.topk import top_k

from tests.unit.planted import fitted_ranking_model, planted

K = 25


def _expected(scores: np.ndarray, k: int) -> np.ndarray:
    out = np.full((len(scores), k), -1, dtype=np.int64)
    for row, values in enumerate(scores):
        ranked = top_k(values, k)
        out[row, : len(ranked.indices)] = ranked.indices
    return out


def _scores(kind: str, rows: int, n: int, rng: np.random.Generator) -> np.ndarray:
    scores = rng.standard_normal((rows, n)).astype(np.float32)
    if kind == "ties":  # few distinct values: ties inside the top k and at the cut
        scores = np.round(scores * 3).astype(np.float32)
    elif kind == "near-ties":
        scores = np.round(scores, 2).astype(np.float32)
    elif kind == "excluded":  # history left out: -inf in many places
        scores[:, rng.integers(0, n, n // 3)] = -np.inf
    elif kind == "few-finite":  # fewer finite scores than k in some rows
        scores[rng.random((rows, n)) < 0.9995] = -np.inf
    elif kind == "constant-rows":
        scores[::3] = 0.0
    return scores


@pytest.mark.parametrize("kind", ["distinct", "ties", "near-ties", "excluded", "few-finite", "constant-rows"])
@pytest.mark.parametrize("k", [1, 10, K])
def test_top_k_rows_is_top_k_per_row(kind, k):
    rng = np.random.default_rng(k)
    n = 8 * TOP_K_SAMPLE_STRIDE * K + 17  # past the size where the sampled threshold is used
    scores = _scores(kind, 37, n, rng)
    np.testing.assert_array_equal(top_k_rows(scores.copy(), k), _expected(scores, k))


def test_top_k_rows_on_small_catalogs_and_k_past_the_catalog():
    rng = np.random.default_rng(0)
    scores = _scores("excluded", 5, 40, rng)
    np.testing.assert_array_equal(top_k_rows(scores.copy(), 40), _expected(scores, 40))
    np.testing.assert_array_equal(top_k_rows(scores.copy(), 7), _expected(scores, 7))


@pytest.fixture(scope="module")
def large():
    data = planted(users_per_cluster=80, items_per_group=2200, per_user=40, seed=4)
    return data, fitted_ranking_model(data, iterations=4, seed=1)


@pytest.mark.parametrize("info", [{}, {"exclude_interacted_items": False}, {"recent_item_weight": 0.0}])
def test_batch_paths_match_recommend_on_a_large_catalog(large, info):
    data, artifact = large
    artifact = replace(artifact, info={**artifact.info, **info})
    model = FactorModel(artifact)
    assert model.item_count >= 8 * TOP_K_SAMPLE_STRIDE * K
    users = np.arange(0, len(model.user_ids), 3)
    known = batch_ranking.recommend_known_users(model, users, K, batch=16)
    for user, row in zip(users.tolist(), known, strict=True):
        assert row[row >= 0].tolist() == model.recommend(model.user_ids[user], K).indices.tolist(), user
    rng = np.random.default_rng(2)
    sequences = [rng.integers(0, model.item_count, size=int(rng.integers(0, 30))) for _ in range(40)]
    batch = batch_ranking.recommend_sequences(model, sequences, K, batch=16)
    for sequence, row in zip(sequences, batch, strict=True):
        single = model.recommend(None, K, recent=model.item_ids[sequence].tolist())
        assert row[row >= 0].tolist() == single.indices.tolist()
