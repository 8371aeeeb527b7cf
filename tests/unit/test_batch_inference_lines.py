"""Batch inference input lines and output lines (training/batch_inference.py), without S3."""

from __future__ import annotations

import json

import numpy as np
import pytest
from picks.model_artifact import ModelArtifact, save_dir

from training import batch_inference
from training.batch_inference import LineError, parse_line

ITEMS = ["a", "b", "c", "d"]


def test_lines_per_recipe_type():
    assert parse_line('{"userId": "u1"}', "USER_PERSONALIZATION").user_id == "u1"
    assert parse_line('{"userId": "u1"}', "POPULAR_ITEMS").user_id == "u1"
    assert parse_line('{"itemId": "i1"}', "RELATED_ITEMS").item_id == "i1"
    ranked = parse_line('{"userId": "u1", "itemList": ["a", "b"]}', "PERSONALIZED_RANKING")
    assert (ranked.user_id, ranked.item_list) == ("u1", ["a", "b"])
    values = parse_line('{"userId": "u", "filterValues": {"G": "\\"x\\""}}', "USER_PERSONALIZATION")
    assert values.filter_values == {"G": '"x"'} and values.echo == {
        "userId": "u",
        "filterValues": {"G": '"x"'},
    }


@pytest.mark.parametrize(
    ("text", "recipe_type", "message"),
    [
        ("{not json", "USER_PERSONALIZATION", "not valid JSON"),
        ('["u1"]', "USER_PERSONALIZATION", "JSON object"),
        ('{"itemId": "i"}', "USER_PERSONALIZATION", "userId: required"),
        ('{"userId": "u"}', "RELATED_ITEMS", "itemId: required"),
        ('{"userId": "u"}', "PERSONALIZED_RANKING", "itemList: required"),
        ('{"userId": "u", "itemList": []}', "PERSONALIZED_RANKING", "itemList: must be"),
        ('{"userId": 7}', "USER_PERSONALIZATION", "userId: must be a string"),
        ('{"userId": "u", "filterValues": {"G": 1}}', "USER_PERSONALIZATION", "filterValues"),
        ('{"userId": "u", "itemList": ' + json.dumps(["x"] * 501) + "}", "PERSONALIZED_RANKING", "501 items"),
    ],
)
def test_bad_lines_name_the_problem(text, recipe_type, message):
    with pytest.raises(LineError, match=message):
        parse_line(text, recipe_type)


def _channel(tmp_path, recipe_type: str, lines: list[str], **config) -> tuple:
    artifact = ModelArtifact(
        recipe="aws-popularity-count",
        recipe_type="POPULAR_ITEMS",
        item_ids=np.array(ITEMS, dtype=object),
        arrays={"popularity": np.array([1, 4, 3, 2], dtype=np.float32)},
    )
    channel, model_dir = tmp_path / "channel", tmp_path / "model"
    save_dir(artifact, channel / "model")
    (channel / "input" / "sub").mkdir(parents=True)
    (channel / "input" / "sub" / "in.json").write_text("\n".join(lines) + "\n")
    config = {
        "task": "batch-inference",
        "recipeType": recipe_type,
        "numResults": 2,
        "inputs": ["sub/in.json"],
        **config,
    }
    (channel / "config.json").write_text(json.dumps(config))
    return channel, model_dir


def test_output_file_per_input_file_with_personalize_lines(tmp_path):
    channel, model_dir = _channel(tmp_path, "POPULAR_ITEMS", ['{"userId": "u1"}', "oops", '{"userId": "u2"}'])
    summary = batch_inference.run(channel, model_dir)
    out = (model_dir / "sub" / "in.json.out").read_text().splitlines()
    assert [json.loads(line) for line in out] == [
        {"input": {"userId": "u1"}, "output": {"recommendedItems": ["b", "c"]}, "error": None},
        {"input": "oops", "error": "the line is not valid JSON."},
        {"input": {"userId": "u2"}, "output": {"recommendedItems": ["b", "c"]}, "error": None},
    ]
    assert (summary["files"], summary["lines"], summary["errors"]) == (1, 3, 1)
    assert not list(model_dir.rglob("*.partial"))


def test_too_many_records_fail_the_job_and_leave_no_output(tmp_path):
    channel, model_dir = _channel(tmp_path, "POPULAR_ITEMS", ['{"userId": "u"}'] * 3, maxRecordsPerFile=2)
    code = batch_inference.main(channel, model_dir, tmp_path / "output")
    assert code == 1
    assert "more than 2 records" in (tmp_path / "output" / "failure").read_text()
    assert not (model_dir / "sub" / "in.json.out").exists()
