"""Batch inference's block scoring (``batch_ranking.recommend_users``) against the per-line path
(``FactorModel.recommend_request``, what GetRecommendations answers): the same items and the same
scores to the bit for a few hundred users — ties, lifted re-interactions, users the model does not
know, per-user filter masks — whatever the block size (1, 7, 512: blocks of one, blocks cut
anywhere, one block for all)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from picks.serving import batch_ranking
from picks.serving.batch_ranking import TOP_K_SAMPLE_STRIDE
from picks.serving.rankers import FactorModel, RankingRequest
from picks.serving.repeats import RepeatTable

from tests.unit.planted import fitted_ranking_model, planted

K = 25


@pytest.fixture(scope="module")
def large():
    """A catalog past the size where the thresholded ranking is used (and 240 users)."""
    data = planted(users_per_cluster=120, items_per_group=2000, per_user=40, seed=7)
    return fitted_ranking_model(data, iterations=3, seed=2)


@pytest.fixture(scope="module")
def small():
    data = planted(users_per_cluster=150, seed=11)
    return fitted_ranking_model(data, iterations=6, seed=3)


def model_of(artifact, ties: int = 0, lifted: bool = False, **info) -> FactorModel:
    artifact = replace(artifact, info={**artifact.info, **info}, arrays=dict(artifact.arrays))
    if ties:  # factors rounded: equal scores inside the top k and at the cut
        artifact.arrays["item_factors"] = np.round(artifact.arrays["item_factors"] * ties) / ties
    model = FactorModel(artifact)
    if lifted:  # a table that lifts many recent items back into the lists
        rng = np.random.default_rng(3)
        model.repeats = RepeatTable(
            rng.uniform(0.0, 1.0, (20, 3, 3)).astype(np.float32), {"click": 0, "buy": 1}, 0.4
        )
    return model


def requests_of(model: FactorModel, seed: int) -> tuple[list[str], list[np.ndarray | None]]:
    """Every known user once (shuffled), every 9th line a user the model does not know, every 4th
    line a filter of its own (a random half of the catalog; every 3rd filter allows few items)."""
    rng = np.random.default_rng(seed)
    ids = [str(user) for user in rng.permutation(model.user_ids).tolist()]
    ids[::9] = [f"stranger-{i}" for i in range(len(ids[::9]))]
    masks: list[np.ndarray | None] = [None] * len(ids)
    for line in range(0, len(ids), 4):
        share = 0.002 if line % 3 == 0 else 0.5
        masks[line] = rng.random(model.item_count) < share
    return ids, masks


CASES = [
    {},
    {"ties": 2},
    {"ties": 1000, "lifted": True},
    {"lifted": True},
    {"exclude_interacted_items": False},
]


@pytest.mark.parametrize("fixture", ["large", "small"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("block", [1, 7, 512])
def test_block_answers_are_the_per_line_answers(request, fixture, case, block):
    model = model_of(request.getfixturevalue(fixture), **case)
    if fixture == "large":
        assert model.item_count >= 8 * TOP_K_SAMPLE_STRIDE * K  # the thresholded ranking runs
    ids, masks = requests_of(model, seed=block)
    index = model.user_index
    answers = batch_ranking.recommend_users(model, [index.get(i) for i in ids], K, masks, batch=block)
    assert len(answers) == len(ids)
    for user_id, mask, answer in zip(ids, masks, answers, strict=True):
        expected = model.recommend_request(RankingRequest(user_id), K, allowed=mask)
        assert answer.indices.tolist() == expected.indices.tolist(), user_id
        np.testing.assert_array_equal(answer.scores, expected.scores, err_msg=user_id)
        assert answer.scores.dtype == expected.scores.dtype


def test_the_cases_have_what_they_test(large):
    """Ties inside the lists, lifted re-interactions and short filtered lists do occur above."""
    tied = model_of(large, ties=2)
    lists = [tied.recommend_request(RankingRequest(str(u)), K) for u in tied.user_ids[:50].tolist()]
    assert any(len(np.unique(r.scores)) < len(r.scores) for r in lists)
    lifted = model_of(large, lifted=True)
    lasts = [lifted.stored_recent(u) for u in range(len(lifted.user_ids))]
    types = [lifted.stored_recent_types(u, len(last)) for u, last in enumerate(lasts)]
    assert any(len(lifted.repeat_candidates(last, t)[0]) for last, t in zip(lasts, types, strict=True))
    ids, masks = requests_of(lifted, seed=1)
    short = [m for m in masks if m is not None and m.sum() < K]
    assert short


def test_k_past_the_catalog(small):
    model = model_of(small)
    ids = [str(u) for u in model.user_ids[:20].tolist()] + ["nobody"]
    answers = batch_ranking.recommend_users(model, [model.user_index.get(i) for i in ids], 500, batch=7)
    for user_id, answer in zip(ids, answers, strict=True):
        expected = model.recommend_request(RankingRequest(user_id), 500)
        assert answer.indices.tolist() == expected.indices.tolist()
        np.testing.assert_array_equal(answer.scores, expected.scores)


def test_the_job_writes_the_per_line_answers_whatever_the_chunks(tmp_path, monkeypatch, large):
    """``training.batch_inference``: a USER_PERSONALIZATION file answered in chunks on two
    threads, users in blocks of 7, is the file the per-line path (``Scorer.line``) answers: known
    and unknown users, a filter with per-line values (some lines sharing them), a malformed line,
    a line without a userId, a line without filter values."""
    from picks.model_artifact import save_dir

    from training import batch_inference

    artifact = replace(large, info={**large.info, "recent_item_weight": 0.3})
    channel, model_dir = tmp_path / "channel", tmp_path / "model"
    save_dir(artifact, channel / "model")
    rng = np.random.default_rng(5)
    items = artifact.item_ids
    lines = []
    for number, user in enumerate(rng.permutation(artifact.user_ids).tolist()):
        line: dict = {"userId": user if number % 11 else f"new-{number}"}
        if number % 3 == 0:  # every 6th line one of two shared values, the others their own
            chosen = items[:300:3] if number % 2 == 0 else rng.choice(items, 400, replace=False)
            line["filterValues"] = {"IDS": ",".join(f'"{item}"' for item in chosen)}
        lines.append(json.dumps(line))
    lines[17:17] = ["{oops", '{"itemId": "i1"}', '{"userId": "u1", "filterValues": {}}']
    (channel / "input").mkdir(parents=True)
    (channel / "input" / "users.json").write_text("\n".join(lines) + "\n")
    config = {
        "task": "batch-inference",
        "recipeType": "USER_PERSONALIZATION",
        "numResults": K,
        "inputs": ["users.json"],
        "filterExpression": "EXCLUDE ItemID WHERE Items.ITEM_ID IN ($IDS)",
        "blockRows": 7,
        "workers": 2,
    }
    (channel / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(batch_inference, "LINE_CHUNK", 50)
    summary = batch_inference.run(channel, model_dir)
    written = [json.loads(line) for line in (model_dir / "users.json.out").read_text().splitlines()]
    per_line = batch_inference.Scorer(batch_inference.serving_model(artifact), config, channel)
    assert written == [per_line.line(text) for text in lines]
    assert summary["lines"] == len(lines) and summary["errors"] == 2
    assert (
        sum(1 for line in written if line["error"] is None and "scores" in line["output"]) == len(lines) - 2
    )
