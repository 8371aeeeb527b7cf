"""The metadata → factor map of aws-user-personalization (training/metadata.py): a cold entity
whose features match well-observed ones gets a vector among theirs, the blend follows evidence,
and where no map can be learned nothing changes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from training import metadata
from training.features import l2_rows

CATEGORIES, PER_CATEGORY, K = 3, 20, 6


def _catalogue(seed: int = 3) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """(factors, one-hot category features, category per row): rows of a category scatter around
    its own direction; the last row of each category is cold (zero factors)."""
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.normal(size=(K, K)))[0][:CATEGORIES]
    category = np.repeat(np.arange(CATEGORIES), PER_CATEGORY)
    factors = (centres[category] + 0.3 * rng.normal(size=(len(category), K))).astype(np.float32)
    features = sp.csr_matrix((np.ones(len(category)), (np.arange(len(category)), category)))
    return factors, l2_rows(features), category


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=-1, keepdims=True)) @ (b / np.linalg.norm(b))


def test_a_cold_item_with_a_warm_items_features_lands_among_that_items_category():
    factors, features, category = _catalogue()
    cold = np.arange(PER_CATEGORY - 1, len(category), PER_CATEGORY)  # one per category
    factors[cold] = 0
    evidence = np.full(len(category), 50)
    evidence[cold] = 0
    blended = metadata.blend(factors, features, evidence, cold=5, regularization=1.0)
    assert blended is not None
    vectors, share = blended
    assert share[cold].tolist() == [1.0] * CATEGORIES
    for item in cold.tolist():
        similarity = _cosine(vectors[np.setdiff1d(np.arange(len(category)), cold)], vectors[item])
        warm_category = np.delete(category, cold)
        assert similarity[warm_category == category[item]].mean() > 0.8
        assert similarity[warm_category != category[item]].mean() < 0.2
        # Its nearest warm item is one of its own category.
        assert warm_category[int(np.argmax(similarity))] == category[item]
    # Calibrated to the length of a typical well-observed vector, not the shrunken average.
    typical = np.median(np.linalg.norm(np.delete(factors, cold, axis=0), axis=1))
    np.testing.assert_allclose(np.linalg.norm(vectors[cold], axis=1), typical, rtol=1e-5)


def test_the_blend_follows_the_evidence_and_leaves_well_observed_rows_bit_for_bit():
    factors, features, _ = _catalogue()
    evidence = np.full(len(factors), 50)
    evidence[[0, 1, 2]] = [0, 2, 5]
    vectors, share = metadata.blend(factors, features, evidence, cold=4, regularization=1.0)
    np.testing.assert_allclose(share[:3], [1.0, 0.5, 0.0])
    assert (share[3:] == 0).all()
    np.testing.assert_array_equal(vectors[2:], factors[2:])
    # Row 1: halfway between its own vector and row 0's (same category, same prediction).
    np.testing.assert_allclose(vectors[1], 0.5 * factors[1] + 0.5 * vectors[0], rtol=1e-5, atol=1e-6)


def test_features_no_well_observed_row_has_give_no_vector():
    factors, features, _ = _catalogue()
    unknown = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 1))
    features = sp.vstack(
        [
            sp.hstack([features, sp.csr_matrix((features.shape[0], 1))]),
            sp.hstack([sp.csr_matrix((1, CATEGORIES)), unknown]),
        ]
    ).tocsr()
    factors = np.vstack([factors, np.zeros((1, K), np.float32)])
    evidence = np.append(np.full(len(factors) - 1, 50), 0)
    vectors, share = metadata.blend(factors, features, evidence, cold=5, regularization=1.0)
    assert share[-1] == 0 and not vectors[-1].any()


def test_no_map_without_features_or_with_too_few_described_rows():
    factors, features, _ = _catalogue()
    evidence = np.full(len(factors), 50)
    assert metadata.blend(factors, sp.csr_matrix((len(factors), 0)), evidence, 5, 1.0) is None
    few = features.multiply(np.arange(len(factors))[:, None] < metadata.MIN_DESCRIBED - 1).tocsr()
    few.eliminate_zeros()
    assert metadata.blend(factors, few, evidence, 5, 1.0) is None


@pytest.mark.parametrize("limit", [10_000, 30, 5], ids=["normal-equations", "dual", "conjugate-gradients"])
def test_ridge_solvers_agree_with_the_closed_form(monkeypatch, limit):
    rng = np.random.default_rng(9)
    design = sp.random(40, 25, density=0.3, random_state=4, format="csr")
    targets = rng.normal(size=(40, 4))
    expected = np.linalg.solve(design.T @ design + 0.5 * np.eye(25), design.T @ targets)
    monkeypatch.setattr(metadata, "DENSE_LIMIT", limit)
    np.testing.assert_allclose(metadata.ridge(design, targets, 0.5), expected, rtol=1e-6, atol=1e-8)
