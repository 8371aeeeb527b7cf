"""The train step builds what user-personalization derives from the interactions alone once
(``user_personalization.prepare``) and hands it to ``fit`` and ``refresh``: the models and metrics
must be exactly what building it per call gives."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from picks.serving.rankers import confidence

from tests.unit.planted import planted
from training import repeats, train
from training.data import Interactions, in_user_time_order
from training.evaluation import split
from training.recipes import user_personalization as up
from training.recipes.common import resolved_hyperparameters

PARAMS = resolved_hyperparameters(
    "aws-user-personalization",
    {
        "hidden_dimension": "8",
        "als_iterations": "6",
        "exclude_interacted_items": "auto",
        "recency_mask": "true",
        "max_user_history_length_percentile": "0.95",
    },
)


def _with_ties(interactions: Interactions, seed: int, shuffle: bool) -> Interactions:
    """Coarse timestamps (many ties inside a user's history) and, optionally, rows out of time order
    with event types."""
    rng = np.random.default_rng(seed)
    out = replace(
        interactions,
        timestamps=interactions.timestamps // 7 * 7,
        weights=rng.choice([1.0, 2.0, 0.5], size=len(interactions)).astype(np.float32),
    )
    if shuffle:
        out = replace(
            out,
            event_types=rng.integers(0, 3, size=len(out)).astype(np.int16),
            event_type_names=np.array(["click", "purchase"], dtype=object),
        )  # 2: no type
        out = out.subset(rng.permutation(len(out)))
    else:
        out = out.subset(np.argsort(out.timestamps, kind="stable"))
    return out


@pytest.fixture(scope="module", params=[False, True], ids=["time-ordered", "shuffled"])
def data(request):
    return _with_ties(planted(seed=7).interactions, seed=3, shuffle=request.param)


def _reference_recent(interactions: Interactions, window: int = up.RECENT_WINDOW):
    # Newest first; of two rows with one timestamp the later is the newer.
    order = np.lexsort((-np.arange(len(interactions)), -interactions.timestamps, interactions.users))
    users = interactions.users[order]
    starts = np.searchsorted(users, users, side="left")
    keep = (np.arange(len(users)) - starts) < window
    counts = np.bincount(users[keep], minlength=interactions.user_count)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), interactions.items[order][keep].astype(
        np.int32
    )


def _reference_recency(interactions: Interactions) -> np.ndarray:
    order = np.lexsort((interactions.timestamps, interactions.users))
    users_sorted = interactions.users[order]
    starts = np.searchsorted(users_sorted, users_sorted, side="left")
    ends = np.searchsorted(users_sorted, users_sorted, side="right")
    recency = np.empty(len(order))
    recency[order] = 1.0 + (np.arange(len(order)) - starts) / np.maximum(ends - starts - 1, 1)
    return recency


def _same_csr(a, b) -> None:
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


def _same_artifact(a, b) -> None:
    assert a.item_ids.tolist() == b.item_ids.tolist() and a.user_ids.tolist() == b.user_ids.tolist()
    assert sorted(a.arrays) == sorted(b.arrays)
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name], err_msg=name)
    assert {k: v for k, v in a.info.items() if k != "trainingSeconds"} == {
        k: v for k, v in b.info.items() if k != "trainingSeconds"
    }


def test_recent_items_match_the_lexsort_definition(data):
    for mine, reference in zip(up.recent_items(data), _reference_recent(data), strict=True):
        np.testing.assert_array_equal(mine, reference)
    with_types = up.recent_items(data, with_types=True)
    np.testing.assert_array_equal(with_types[2], repeats.recent_types(data, up.RECENT_WINDOW))
    short = up.recent_items(data, window=3)
    np.testing.assert_array_equal(short[1], _reference_recent(data, window=3)[1])


def test_confidence_uses_the_lexsort_recency(data):
    weights = data.weights.astype(np.float64) * _reference_recency(data)
    import scipy.sparse as sp

    expected = sp.csr_matrix((weights, (data.users, data.items)), shape=(data.user_count, data.item_count))
    expected.sum_duplicates()
    expected.data = confidence(expected.data, float(PARAMS["als_alpha"])).astype(np.float32)
    _same_csr(up.confidence_matrix(data, PARAMS), expected)


def test_confidence_of_rows_stored_by_user_is_the_same_matrix(data):
    stored = in_user_time_order(data)
    assert stored.rows_by_user_time
    _same_csr(up.confidence_matrix(stored, PARAMS), up.confidence_matrix(data, PARAMS))
    _same_csr(
        up.confidence_matrix(stored, {**PARAMS, "recency_mask": "false"}),
        up.confidence_matrix(data, {**PARAMS, "recency_mask": "false"}),
    )


def test_prepared_without_users_is_what_the_split_interactions_give(data):
    holdout = split(data, seed=4)
    part = data.subset(holdout.train_mask)
    prepared = up.prepare(data, PARAMS).without(holdout.users)
    _same_csr(prepared.matrix, up.confidence_matrix(part, PARAMS))
    assert prepared.matrix.has_canonical_format
    for mine, built in zip(prepared.recent, up.recent_items(part, with_types=True), strict=True):
        np.testing.assert_array_equal(mine, built)
    np.testing.assert_array_equal(prepared.recent[2], repeats.recent_types(part, up.RECENT_WINDOW))
    _same_csr(prepared.neighbor_input, up.recent_matrix(part, up.history_cap(data)))
    np.testing.assert_array_equal(prepared.repeat_examples.table(), repeats.table(part, up.RECENT_WINDOW))
    np.testing.assert_array_equal(
        up.prepare(data, PARAMS).repeat_examples.table(), repeats.table(data, up.RECENT_WINDOW)
    )


def test_fit_and_refresh_with_prepared_equal_building_it_each_time(data):
    holdout = split(data, seed=4)
    part = data.subset(holdout.train_mask)
    full = up.prepare(data, PARAMS)
    split_model = up.fit(part, PARAMS, seed=2)
    _same_artifact(up.fit(part, PARAMS, seed=2, prepared=full.without(holdout.users)), split_model)
    _same_artifact(
        up.refresh(split_model, data, PARAMS, users=holdout.users, prepared=full),
        up.refresh(split_model, data, PARAMS, users=holdout.users),
    )


def test_prepared_for_other_hyperparameters_or_data_is_not_used(data):
    other_alpha = {**PARAMS, "als_alpha": str(float(PARAMS["als_alpha"]) * 2)}
    prepared = up.prepare(data, PARAMS)
    assert not prepared.fits(data, other_alpha)
    assert not prepared.fits(data, {**PARAMS, "recency_mask": "false"})
    fewer_items = replace(data, item_ids=data.item_ids[:-1])
    assert not prepared.fits(fewer_items, PARAMS)
    # Ignored when it does not fit: the model is the one built from scratch.
    _same_artifact(up.fit(data, other_alpha, seed=2, prepared=prepared), up.fit(data, other_alpha, seed=2))


@pytest.mark.parametrize("previous", [False, True], ids=["full", "update"])
def test_fit_and_measure_is_unchanged_by_building_once(data, previous):
    # The recipe without ``prepare``: train.py falls back to fit / refresh building everything per call.
    per_call = SimpleNamespace(fit=up.fit, refresh=up.refresh)
    prior = up.fit(data, PARAMS, seed=9) if previous else None
    once = train._fit_and_measure(up, data, PARAMS, seed=5, previous=prior)
    each = train._fit_and_measure(per_call, data, PARAMS, seed=5, previous=prior)
    _same_artifact(once[0], each[0])
    _same_artifact(once[1], each[1])
    assert once[2] == each[2]


def test_coverage_alone_is_what_evaluate_reports(data):
    # train.py asks evaluation.coverage directly when the holdout keeps the users' history.
    from picks.serving.rankers import serving_model

    from training import evaluation

    holdout = split(data, seed=4)
    model = up.fit(data.subset(holdout.train_mask), {**PARAMS, "exclude_interacted_items": "false"}, seed=2)
    assert evaluation.evaluate(serving_model(model), data, holdout)["coverage"] == evaluation.coverage(
        serving_model(model), data
    )


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from tests.integration.test_training_entry import SMALL, write_channel
    from tests.unit.planted import csv_rows
    from training.data import load_channel

    root = tmp_path_factory.mktemp("job")
    config = {
        "recipe": "aws-user-personalization",
        "trainingMode": "FULL",
        "seed": 7,
        "solutionConfig": {"algorithmHyperParameters": SMALL},
    }
    return load_channel(write_channel(root, config, csv_rows(planted(seed=21).interactions)))


def _filters_of(artifact):
    return (
        {k: v for k, v in artifact.arrays.items() if k.startswith("filter_")},
        {k: v for k, v in artifact.strings.items() if k.startswith("filter_")},
    )


@pytest.mark.parametrize("same_items", [True, False], ids=["built-beside", "rebuilt"])
def test_filter_arrays_built_beside_training_are_history_attachs(job, monkeypatch, same_items):
    from training import history

    if not same_items:  # as for a model indexing its items differently: attach runs on the model itself
        built = train._filter_arrays

        def reversed_items(job, start=None):
            scratch = built(job, start)
            scratch.item_ids = scratch.item_ids[::-1]
            return scratch

        monkeypatch.setattr(train, "_filter_arrays", reversed_items)
    final = train.run(job)
    arrays, strings = _filters_of(final)
    expected = replace(
        final,
        arrays={k: v for k, v in final.arrays.items() if k not in arrays},
        strings={k: v for k, v in final.strings.items() if k not in strings},
    )
    history.attach(expected, job.interactions_table)
    assert list(final.arrays) == list(expected.arrays) and list(final.strings) == list(expected.strings)
    for name, values in _filters_of(expected)[0].items():
        np.testing.assert_array_equal(arrays[name], values, err_msg=name)
    for name, values in _filters_of(expected)[1].items():
        assert strings[name].tolist() == values.tolist()
