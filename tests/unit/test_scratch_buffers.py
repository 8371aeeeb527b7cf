"""The request path's reused arrays (``picks.serving.topk.scratch_array``): ``top_k``,
``softmax`` and ``blended_scores`` work in per-thread arrays kept between calls, and
``FactorModel.recommend`` computes a request's softmax normaliser once.  The answers must be exactly
those of fresh arrays, whatever was computed before in the thread (a larger or a smaller catalogue)
and whatever another thread computes meanwhile.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from picks.serving.rankers import FactorModel
from picks.serving.topk import Ranked, softmax, softmax_normaliser, top_k

from tests.unit.planted import fitted_ranking_model, planted

K = 10


# --- references: the same operations on fresh arrays ----------------------------------------------


def reference_top_k(scores, k, excluded=None, allowed=None) -> Ranked:
    if excluded is not None and len(excluded) or allowed is not None:
        scores = scores.astype(np.float32, copy=True)
        if excluded is not None and len(excluded):
            scores[excluded] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
    k = min(k, len(scores))
    if k <= 0:
        return Ranked(np.empty(0, np.int64), np.empty(0, np.float32))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    order = part[np.argsort(-scores[part], kind="stable")]
    keep = np.isfinite(scores[order])
    return Ranked(order[keep], scores[order][keep])


def reference_softmax(values, temperature, at):
    """The answered items' exponentials in float64 over every item's exponential in the scores' own
    precision (float32 for float32 scores), summed in float64."""
    shifted = (values - values.max()) / temperature
    total = np.add.reduce(np.exp(shifted), dtype=np.float64)
    return np.exp(shifted[at], dtype=np.float64) / total


def assert_identical(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()  # bit for bit: -0.0, ties and rounding included


# --- cases: two catalogue sizes --------------------------------------------------------------------


def cases(size: int, seed: int) -> list[tuple]:
    """(scores, excluded, allowed) with ties, non-finite scores, exclusions and filters."""
    rng = np.random.default_rng(seed)
    out = []
    for case in range(12):
        scores = rng.standard_normal(size).astype(np.float64 if case % 6 == 5 else np.float32)
        if case % 3 == 0:
            scores = np.round(scores, 1)  # many equal scores: the partition's tie order counts
        if case % 4 == 1:
            scores[rng.integers(0, size, 3)] = [np.nan, np.inf, -np.inf]
            scores[rng.integers(0, size, 2)] = -0.0
        excluded = None if case % 4 == 0 else rng.integers(0, size, int(rng.integers(1, size // 3)))
        allowed = None if case % 5 == 2 else rng.random(size) < rng.uniform(0.05, 0.95)
        out.append((scores, excluded, allowed))
    return out


SIZES = (5_003, 311)  # the larger first: the smaller then reuses a part of its arrays


def check(size_cases: dict[int, list[tuple]]) -> None:
    for size in (*SIZES, SIZES[0], SIZES[1]):
        for scores, excluded, allowed in size_cases[size]:
            before = scores.copy()
            for k in (1, K, size + 1):
                got, expected = (
                    top_k(scores, k, excluded, allowed),
                    reference_top_k(scores, k, excluded, allowed),
                )
                assert_identical(got.indices, expected.indices)
                assert_identical(got.scores, expected.scores)
            assert_identical(scores, before)  # marked in a copy of its own, not in the caller's array
            if np.isfinite(scores).all():
                at = expected.indices
                assert_identical(softmax(scores, 0.1, at), reference_softmax(scores, 0.1, at))
                normaliser = softmax_normaliser(scores, 0.1)
                assert_identical(softmax(scores, 0.1, at, normaliser), reference_softmax(scores, 0.1, at))


@pytest.fixture(scope="module")
def size_cases():
    return {size: cases(size, seed) for seed, size in enumerate(SIZES)}


def test_ranking_in_reused_arrays_equals_fresh_arrays_across_sizes(size_cases):
    check(size_cases)


def test_two_threads_ranking_at_once_get_their_own_answers(size_cases):
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work() -> None:
        try:
            start.wait()
            for _ in range(3):
                check(size_cases)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]


# --- FactorModel: two models of different sizes ----------------------------------------------------


@pytest.fixture(scope="module")
def models():
    small = FactorModel(fitted_ranking_model(planted(items_per_group=20, seed=3), iterations=4, seed=1))
    large = FactorModel(fitted_ranking_model(planted(items_per_group=400, seed=4), iterations=4, seed=2))
    assert small.item_count < large.item_count
    assert small.recent_weight > 0 and large.recent_weight > 0  # blended_scores' reused part runs
    return small, large


def requests(model: FactorModel, seed: int) -> list[tuple[str, list[str]]]:
    rng = np.random.default_rng(seed)
    users = rng.choice(model.user_ids, 6, replace=False).tolist()
    return [(user, model.item_ids[rng.integers(0, model.item_count, 3)].tolist()) for user in users]


def answers(model: FactorModel, seed: int) -> list[tuple[np.ndarray, ...]]:
    """Per request: the scores, then a promotion's two rankings from the same ``scored`` (the second
    reusing the first's normaliser), then the same rankings without ``scored``."""
    out = []
    allowed = np.arange(model.item_count) % 3 != 0
    for user, recent in requests(model, seed):
        scored = model.request_scores(user, recent)
        promoted = model.recommend(user, 3, allowed=allowed, scored=scored)
        rest = model.recommend(user, K, excluded=promoted.indices, scored=scored)
        again = model.recommend(user, K, recent=recent, excluded=promoted.indices)
        score = scored[0]
        assert score is not None
        out.append(
            (score, promoted.indices, promoted.scores, rest.indices, rest.scores, again.indices, again.scores)
        )
    return out


def fresh_thread_answers(model: FactorModel, seed: int) -> list[tuple[np.ndarray, ...]]:
    """``answers`` from a new thread: its arrays are new, sized for this model alone."""
    result: list = []
    thread = threading.Thread(target=lambda: result.extend(answers(model, seed)))
    thread.start()
    thread.join()
    return result


def assert_same_answers(got, expected) -> None:
    assert len(got) == len(expected)
    for got_request, expected_request in zip(got, expected, strict=True):
        for got_array, expected_array in zip(got_request, expected_request, strict=True):
            assert_identical(got_array, expected_array)


def test_recommend_is_the_same_after_a_model_of_another_size(models):
    small, large = models
    expected = {id(model): fresh_thread_answers(model, seed) for seed, model in enumerate(models)}
    for model in (large, small, large, small):
        assert_same_answers(answers(model, models.index(model)), expected[id(model)])
    # The promotion's second ranking reused the normaliser: the same probabilities as a fresh softmax.
    for seed, model in enumerate(models):
        for score, *_, rest_indices, rest_scores, again_indices, again_scores in answers(model, seed):
            assert_identical(rest_indices, again_indices)
            assert_identical(rest_scores, again_scores)
            assert_identical(rest_scores, reference_softmax(score, model.temperature, rest_indices))


def test_recommend_from_two_threads_at_once(models):
    expected = {id(model): fresh_thread_answers(model, seed) for seed, model in enumerate(models)}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(order) -> None:
        try:
            start.wait()
            for _ in range(3):
                for model in order:
                    assert_same_answers(answers(model, models.index(model)), expected[id(model)])
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(order,)) for order in (models, models[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]


def test_float32_normaliser_stays_within_float32_rounding_of_the_float64_sum():
    rng = np.random.default_rng(3)
    for size in (1_000, 100_000):
        scores = rng.standard_normal(size).astype(np.float32) * np.float32(0.4)
        top, total = softmax_normaliser(scores, 0.1)
        exact = np.exp((scores - scores.max()) / 0.1, dtype=np.float64).sum()
        assert top == scores.max()
        assert abs(total / exact - 1) < 2e-7  # float32 exponentials: ~1 ulp each, summed in float64
