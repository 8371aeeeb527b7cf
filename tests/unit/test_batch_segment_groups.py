"""training/batch_segment answers a file a group of lines at a time, so the top lists it holds stay
within its result budget at any numResults, and the output is byte for byte the same whatever the
budget."""

from __future__ import annotations

import json
import tracemalloc
from typing import TYPE_CHECKING

import numpy as np
import pytest
from picks.model_artifact import ModelArtifact
from picks.serving import segments
from picks.serving.segments import ENTRY_BYTES, SegmentModel

from training.batch_segment import SegmentJob, write_answers

if TYPE_CHECKING:
    from pathlib import Path

EVENTS = ("click", "buy")


def _model(users: int, items: int, factors: int, seed: int = 0) -> SegmentModel:
    """Random factors, users in near-copies of five (scores a few float32 roundings apart, so
    their order shows a product's rounding); user u clicked, every third user also bought (the
    filter's history)."""
    rng = np.random.default_rng(seed)
    base = np.repeat(rng.normal(size=(-(-users // 5), factors)), 5, axis=0)[:users]
    user_factors = (base * (1 + 1e-6 * rng.normal(size=base.shape))).astype(np.float32)
    types = [[0] + ([1] if u % 3 == 0 else []) for u in range(users)]
    return SegmentModel(
        ModelArtifact(
            recipe="aws-item-affinity",
            recipe_type="USER_SEGMENTATION",
            item_ids=np.array([f"i{i}" for i in range(items)], dtype=object),
            user_ids=np.array([f"u{u}" for u in range(users)], dtype=object),
            arrays={
                "user_factors": user_factors,
                "item_factors": rng.normal(size=(items, factors)).astype(np.float32),
                "popularity": np.ones(items, np.float32),
                "filter_indptr": np.concatenate([[0], np.cumsum([len(t) for t in types])]).astype(np.int64),
                "filter_items": np.zeros(sum(len(t) for t in types), np.uint16),
                "filter_types": np.array([kind for t in types for kind in t], np.int16),
            },
            strings={
                "filter_users": np.array([f"u{u}" for u in range(users)], dtype=object),
                "filter_event_types": np.array(EVENTS, dtype=object),
            },
        )
    )


def _input(lines: int, items: int) -> list[str]:
    """Item lines with each filter value, none (the filter's error), unknown items, broken lines."""
    texts = []
    for n in range(lines):
        line: dict = {"itemId": f"i{n % items}" if n % 11 else f"unknown{n}"}
        if n % 4:
            line["filterValues"] = {"EVENT": f'"{EVENTS[n % 2]}"'}
        texts.append("{broken" if n % 17 == 5 else json.dumps(line))
    return texts


@pytest.mark.parametrize("num_results", [7, 600])
def test_the_output_is_the_same_bytes_whatever_the_budget(tmp_path: Path, num_results: int) -> None:
    # 64 factors: enough for a matrix product's rounding to depend on its shape, so answering a
    # group's lines with a product of its own would change scores and the order of close users.
    model = _model(users=1500, items=40, factors=64)
    texts = _input(lines=130, items=40)
    config = {
        "numResults": num_results,
        "maxQueriesPerFile": 1000,
        "filterExpression": "INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT)",
    }
    outputs = {}
    for budget in (None, ENTRY_BYTES * num_results, ENTRY_BYTES * num_results * 9):
        job = SegmentJob(model, {**config, "resultBudgetBytes": budget}, tmp_path)
        if budget is None:
            assert job.lines_per_group >= len(texts)  # the whole file in one group
        else:
            assert job.lines_per_group == budget // (ENTRY_BYTES * num_results)  # 1 and 9 lines
        target = tmp_path / f"{budget}.out"
        written, errors = write_answers(job, texts, target)
        assert written == len(texts) and 0 < errors < written
        outputs[budget] = target.read_bytes()
        assert not list(tmp_path.glob("*.partial"))
    single = outputs.pop(None)
    lines = [json.loads(line) for line in single.decode().splitlines()]
    assert len(lines) == len(texts)
    assert sum("output" in line for line in lines) > 60
    # Buyers are every third of the 1500 users.
    assert {len(line["output"]["recommendedUsers"]) for line in lines if "output" in line} == {
        min(num_results, 500),
        num_results,
    }
    for output in outputs.values():
        assert output == single


def _peak_bytes(job: SegmentJob, texts: list[str], target: Path) -> int:
    tracemalloc.start()
    try:
        write_answers(job, texts, target)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_top_lists_held_stay_within_the_budget_at_any_num_results(tmp_path, monkeypatch):
    """Every user in each of 40 segments: the whole file's lists would be 40 × 50k × 12 bytes =
    24 MB; a budget of 3 lines' lists keeps the job's peak (model aside) under that budget plus one
    block of scores plus one line being ranked and written."""
    users, lines = 50_000, 40
    monkeypatch.setattr(segments, "BLOCK_SCORES", 1 << 20)  # 4 MB of scores per block
    model = _model(users=users, items=lines, factors=16)
    texts = [json.dumps({"itemId": f"i{n}"}) for n in range(lines)]
    budget = 3 * users * ENTRY_BYTES
    one_line = users * 150  # one line: its merge and sort copies, its user ids as a list and as JSON
    bound = budget + segments.BLOCK_SCORES * 4 + one_line

    small = SegmentJob(model, {"numResults": users, "resultBudgetBytes": budget}, tmp_path)
    assert small.lines_per_group == 3
    within = _peak_bytes(small, texts, tmp_path / "small.out")
    whole = SegmentJob(model, {"numResults": users}, tmp_path)
    assert whole.lines_per_group >= lines
    unbounded = _peak_bytes(whole, texts, tmp_path / "whole.out")

    assert within < bound < lines * users * ENTRY_BYTES <= unbounded
    assert (tmp_path / "small.out").read_bytes() == (tmp_path / "whole.out").read_bytes()
    first = json.loads((tmp_path / "small.out").read_text().splitlines()[0])
    assert len(first["output"]["recommendedUsers"]) == users
