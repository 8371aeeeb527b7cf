"""ModelArtifact (picks.model_artifact): files and bytes round-trip; damaged or foreign files are refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from picks import model_artifact as artifact_module
from picks.model_artifact import (
    ARRAYS_NAME,
    MANIFEST_NAME,
    ArtifactError,
    ModelArtifact,
    deserialize,
    load_dir,
    parse_manifest,
    save_dir,
    serialize,
)

ITEM_IDS = [
    "plain",
    "pipe|separated|id",
    "naïve café",
    "日本語のアイテム",
    "emoji 🎧",
    "",
    'a,b"c',
    "x" * 256,
]
USER_IDS = ["user|1", "Zoë", "пользователь", "u 4"]


def sample(user_ids: list[str] | None = None) -> ModelArtifact:
    rng = np.random.default_rng(0)
    n_items = len(ITEM_IDS)
    users = USER_IDS if user_ids is None else user_ids
    return ModelArtifact(
        recipe="aws-user-personalization",
        recipe_type="USER_PERSONALIZATION",
        item_ids=np.array(ITEM_IDS, dtype=object),
        user_ids=np.array(users, dtype=object),
        arrays={
            "popularity": rng.random(n_items).astype(np.float32),
            "item_factors": rng.normal(size=(n_items, 3)).astype(np.float32),
            "gram": rng.normal(size=(3, 3)),
            "history_indptr": np.array([0, 2, 2, 3, 5][: len(users) + 1], dtype=np.int64),
            "neighbors": np.full((n_items, 2), -1, dtype=np.int32),
        },
        info={
            "alpha": 2.0,
            "hyperParameters": {"hidden_dimension": "3"},
            "metrics": {"coverage": 0.5},
            "note": "ünïcode | ok",
        },
    )


def assert_same(loaded: ModelArtifact, original: ModelArtifact) -> None:
    assert loaded.recipe == original.recipe
    assert loaded.recipe_type == original.recipe_type
    assert loaded.item_ids.tolist() == original.item_ids.tolist()
    assert loaded.user_ids.tolist() == original.user_ids.tolist()
    assert set(loaded.arrays) == set(original.arrays)
    for name, array in original.arrays.items():
        assert loaded.arrays[name].dtype == array.dtype, name
        np.testing.assert_array_equal(loaded.arrays[name], array)
    assert loaded.info == original.info
    assert {k: v.tolist() for k, v in loaded.strings.items()} == {
        k: v.tolist() for k, v in original.strings.items()
    }


def test_serialize_round_trip():
    original = sample()
    manifest, data = serialize(original)
    assert_same(deserialize(manifest, data), original)
    parsed = json.loads(manifest)
    assert parsed["items"] == len(ITEM_IDS) and parsed["users"] == len(USER_IDS)
    assert parsed["arrays"]["item_factors"] == {"dtype": "float32", "shape": [len(ITEM_IDS), 3]}
    assert parsed["data"]["size"] == len(data)


def test_directory_round_trip(tmp_path: Path):
    original = sample()
    save_dir(original, tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted([MANIFEST_NAME, ARRAYS_NAME])
    assert_same(load_dir(tmp_path / "model"), original)


def test_empty_user_ids_round_trip(tmp_path: Path):
    original = sample(user_ids=[])
    original.arrays["history_indptr"] = np.array([0], dtype=np.int64)
    manifest, data = serialize(original)
    loaded = deserialize(manifest, data)
    assert loaded.user_ids.tolist() == [] and loaded.item_ids.tolist() == ITEM_IDS
    # The default (a popularity-style artifact that never names users) round-trips too.
    bare = ModelArtifact(
        "aws-popularity-count",
        "POPULAR_ITEMS",
        np.array(["a|b", "ç"], dtype=object),
        arrays={"popularity": np.array([2.0, 1.0], np.float32)},
    )
    save_dir(bare, tmp_path)
    assert_same(load_dir(tmp_path), bare)


def test_checksum_mismatch_is_refused(tmp_path: Path):
    manifest, data = serialize(sample())
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(ArtifactError, match="checksum"):
        deserialize(manifest, bytes(tampered))
    save_dir(sample(), tmp_path)
    other, _ = serialize(sample(user_ids=["someone else"]))
    (tmp_path / MANIFEST_NAME).write_bytes(other)  # a manifest of another model
    with pytest.raises(ArtifactError, match="checksum"):
        load_dir(tmp_path)


@pytest.mark.parametrize(
    "change",
    [
        {"format": "picks-columnar"},
        {"format_version": 2},
        {"format": None},
    ],
)
def test_wrong_format_is_refused(change):
    manifest, data = serialize(sample())
    parsed = json.loads(manifest)
    parsed.update(change)
    with pytest.raises(ArtifactError, match="manifest"):
        deserialize(json.dumps(parsed).encode(), data)


def test_a_folder_without_manifest_is_unfinished(tmp_path: Path):
    (tmp_path / ARRAYS_NAME).write_bytes(serialize(sample())[1])
    with pytest.raises(ArtifactError, match=MANIFEST_NAME):
        load_dir(tmp_path)
    with pytest.raises(ArtifactError):
        load_dir(tmp_path / "missing")


def test_manifest_is_written_last(tmp_path: Path, monkeypatch):
    seen: list[list[str]] = []
    original = Path.write_bytes

    def recording(self: Path, data: bytes) -> int:
        seen.append(sorted(p.name for p in self.parent.iterdir()))  # what was there before
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", recording)
    save_dir(sample(), tmp_path / "nested" / "model")
    assert seen == [[ARRAYS_NAME]]  # one write_bytes, the manifest's, once model.npz was complete


def test_saved_data_matches_its_manifest_and_reads_with_plain_numpy(tmp_path: Path):
    # model.npz is hashed as it is written (an unseekable stream: zip members with data
    # descriptors); it is still an ordinary npz, and the manifest's size and sha256 are the file's.
    original = sample()
    save_dir(original, tmp_path)
    data = (tmp_path / ARRAYS_NAME).read_bytes()
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    sha256 = hashlib.sha256(data).hexdigest()
    assert manifest["data"] == {"key": ARRAYS_NAME, "size": len(data), "sha256": sha256}
    with np.load(tmp_path / ARRAYS_NAME, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["item_factors"], original.arrays["item_factors"])
    manifest_bytes, serialized = serialize(original)
    assert json.loads(manifest_bytes)["data"]["size"] == len(serialized)
    assert_same(deserialize(manifest_bytes, serialized), original)


def test_strings_equal_to_the_ids_are_stored_once(tmp_path: Path):
    original = sample()
    original.strings["filter_users"] = np.array(USER_IDS, dtype=object)  # equal, not the same object
    original.strings["item_copy"] = original.item_ids
    original.strings["other"] = np.array(USER_IDS[::-1], dtype=object)
    save_dir(original, tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["aliases"] == {"filter_users": "user_ids", "item_copy": "item_ids"}
    assert manifest["strings"] == ["other"]
    with np.load(tmp_path / ARRAYS_NAME) as npz:
        assert "filter_users.text" not in npz.files and "other.text" in npz.files
    loaded = load_dir(tmp_path)
    assert_same(loaded, original)
    assert loaded.strings["filter_users"] is loaded.user_ids  # one array in memory too
    # Empty arrays are never aliases (an artifact without users has empty user_ids).
    bare = sample(user_ids=[])
    bare.arrays["history_indptr"] = np.array([0], dtype=np.int64)
    bare.strings["filter_users"] = np.empty(0, dtype=object)
    assert "aliases" not in json.loads(serialize(bare)[0])


def test_an_alias_must_name_an_id_array():
    original = sample()
    original.strings["filter_users"] = original.user_ids
    manifest, data = serialize(original)
    parsed = json.loads(manifest)
    parsed["aliases"] = {"filter_users": "popularity"}
    with pytest.raises(ArtifactError, match="alias 'filter_users'"):
        deserialize(json.dumps(parsed).encode(), data)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (
            b'{"format": "picks-model", "format_version": 1, "recipeType": "X", '
            b'"data": {"size": 1, "sha256": "a"}}',
            "lacks recipe",
        ),
        (
            b'{"format": "picks-model", "format_version": 1, "recipe": "r", "recipeType": "X",'
            b' "data": {"size": "1"}}',
            "lacks data",
        ),
        (b'{"format": "picks-columnar", "format_version": 1}', "not a picks-model v1 manifest"),
    ],
)
def test_parse_manifest_names_what_is_wrong(manifest, message):
    with pytest.raises(ArtifactError, match=message):
        parse_manifest(manifest)


def test_parse_manifest_accepts_what_save_dir_writes():
    manifest, _ = serialize(sample())
    parsed = parse_manifest(manifest)
    assert parsed["recipe"] == "aws-user-personalization" and parsed["recipeType"] == "USER_PERSONALIZATION"


def test_published_to_s3_data_first_manifest_last():
    calls: list[str] = []

    class S3:
        def put_object(self, **kwargs):
            calls.append(kwargs["Key"])

    manifest, data = serialize(sample())
    artifact_module.publish_files(S3(), "bucket", "/models/s/v/", manifest, data)
    assert calls == [f"models/s/v/{ARRAYS_NAME}", f"models/s/v/{MANIFEST_NAME}"]


def test_arrays_are_not_pickled():
    original = sample()
    original.arrays["bad"] = np.array([{"a": 1}], dtype=object)
    with pytest.raises(ValueError):
        serialize(original)


def test_named_string_arrays_round_trip(tmp_path: Path):
    original = sample()
    original.strings["event_types"] = np.array(["View", "Añadir|carrito", "", "購入"], dtype=object)
    original.strings["empty"] = np.empty(0, dtype=object)
    save_dir(original, tmp_path)
    loaded = load_dir(tmp_path)
    assert_same(loaded, original)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["strings"] == ["empty", "event_types"]
    assert "event_types.text" not in loaded.arrays  # decoded, not left as raw arrays
