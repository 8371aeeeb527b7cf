"""training/batch_segment: what one input line means, the output line Personalize's guide shows for
each recipe, the users an interactions filter sees, and the per-file query limit."""

from __future__ import annotations

import numpy as np
import pytest
from picks.model_artifact import ModelArtifact
from picks.serving.segments import Segment, SegmentModel

from training.batch_segment import SegmentJobError, _lines, output_line, parse_line, users_by_event_type


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "the line is not valid JSON."),
        ("[1]", "the line must be a JSON object."),
        ('{"itemAttributes": "x"}', "itemId: required on every line of this batch segment job, as a string."),
        ('{"itemId": 5}', "itemId: required on every line of this batch segment job, as a string."),
        ('{"itemId": "' + "x" * 257 + '"}', "itemId: must be a string of 1 to 256 characters."),
        ('{"itemId": "a", "filterValues": {"A": 1}}', "filterValues: must be an object of strings"),
    ],
)
def test_lines_without_a_query_carry_their_error(text, error):
    query = parse_line(text, "itemId")
    assert query.value is None and query.error is not None and query.error.startswith(error)


def test_a_line_with_filter_values():
    query = parse_line('{"itemId": "a", "filterValues": {"B": "\\"x\\"", "A": "\\"y\\""}}', "itemId")
    assert query.value == "a" and query.error is None
    assert query.filter_key == (("A", '"y"'), ("B", '"x"'))  # the same values in any order: one mask


def test_output_lines_as_the_guide_shows_them():
    item = parse_line('{"itemId": "105"}', "itemId")
    assert output_line(item, "itemId", Segment(["106", "107"], [0.9, 0.8])) == {
        "input": {"itemId": "105"},
        "output": {"recommendedUsers": ["106", "107"]},
    }
    query = parse_line('{"itemAttributes": "ITEMS.genres = \\"Comedy\\""}', "itemAttributes")
    assert output_line(query, "itemAttributes", Segment(["25"], [1.0])) == {
        "itemAttributes": 'ITEMS.genres = "Comedy"',
        "output": {"recommendedUsers": ["25"]},
    }
    assert output_line(query, "itemAttributes", Segment(error="no item matches")) == {
        "itemAttributes": 'ITEMS.genres = "Comedy"',
        "error": "no item matches",
    }
    broken = parse_line("{", "itemAttributes")
    assert output_line(broken, "itemAttributes") == {"input": "{", "error": "the line is not valid JSON."}


def _model(strings: dict, arrays: dict) -> SegmentModel:
    return SegmentModel(
        ModelArtifact(
            recipe="aws-item-affinity",
            recipe_type="USER_SEGMENTATION",
            item_ids=np.array(["i0", "i1"], dtype=object),
            user_ids=np.array(["a", "b", "c"], dtype=object),
            arrays={
                "user_factors": np.ones((3, 2), np.float32),
                "item_factors": np.ones((2, 2), np.float32),
                "popularity": np.ones(2, np.float32),
                **arrays,
            },
            strings=strings,
        )
    )


def test_users_by_event_type_maps_the_filter_users_onto_the_models_users():
    model = _model(
        # "z" is not one of the model's users; "c" has no interaction; event types match case-insensitively.
        {
            "filter_users": np.array(["b", "z", "a", "c"], dtype=object),
            "filter_event_types": np.array(["Click", "Buy"]),
        },
        {
            "filter_indptr": np.array([0, 2, 3, 4, 4]),
            "filter_items": np.array([0, 1, 0, 1], np.uint16),
            "filter_types": np.array([0, 1, 1, 0], np.int16),
        },
    )
    found = users_by_event_type(model)
    assert sorted(found) == ["buy", "click"]
    assert sorted(found["click"].tolist()) == [0, 1] and found["buy"].tolist() == [1]


def test_users_by_event_type_with_one_event_type_and_without_history():
    one_type = _model(
        {"filter_users": np.array(["c"], dtype=object), "filter_event_types": np.array(["View"])},
        {"filter_indptr": np.array([0, 2]), "filter_items": np.array([0, 1], np.uint16)},
    )
    assert {k: v.tolist() for k, v in users_by_event_type(one_type).items()} == {"view": [2]}
    assert users_by_event_type(_model({}, {})) == {}


def test_a_file_past_the_query_limit_fails_the_job(tmp_path):
    path = tmp_path / "q.json"
    path.write_text('{"itemId": "a"}\n\n{"itemId": "b"}\n')
    assert _lines(path, 2, "itemId") == ['{"itemId": "a"}', '{"itemId": "b"}']  # blank lines are not queries
    with pytest.raises(SegmentJobError, match="q.json has more than 1 itemId queries"):
        _lines(path, 1, "itemId")
