"""The trained-model artifact: plain numpy arrays plus a JSON manifest, nothing else.

Training writes it (``save_dir``) into the SageMaker model directory; the Register step publishes
the same two files under ``models/<solution>/<version>/`` in the picks bucket; the runtime loads
them (``load_s3``) with numpy alone — no pickle, no scipy, no framework.

Layout::

    manifest.json   format, recipe, recipeType, hyperparameters, counts, metrics, array index
    model.npz       numeric arrays; ``item_ids`` / ``user_ids`` as UTF-8 text + character offsets

Which arrays exist depends on the recipe type (see ``picks.serving.models``).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from picks.ingest.columnar import decode_strings, encode_strings

FORMAT = "picks-model"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ARRAYS_NAME = "model.npz"
ID_ARRAYS = ("item_ids", "user_ids")


class ArtifactError(ValueError):
    """The files are not a picks model this code can read."""


@dataclass
class ModelArtifact:
    recipe: str
    recipe_type: str
    item_ids: np.ndarray  # object array of str; index = the item's row in every item array
    user_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # hyperparameters, counts, metrics, ...
    strings: dict[str, np.ndarray] = field(default_factory=dict)  # other object arrays of str

    def manifest(self, data_sha256: str, data_size: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "recipe": self.recipe,
            "recipeType": self.recipe_type,
            "items": int(len(self.item_ids)),
            "users": int(len(self.user_ids)),
            "arrays": {name: {"dtype": str(a.dtype), "shape": list(a.shape)} for name, a in self.arrays.items()},
            "strings": sorted(self.strings),
            "data": {"key": ARRAYS_NAME, "size": data_size, "sha256": data_sha256},
            "info": self.info,
        }


def serialize(artifact: ModelArtifact) -> tuple[bytes, bytes]:
    """(manifest.json bytes, model.npz bytes)."""
    arrays = dict(artifact.arrays)
    named = {name: getattr(artifact, name) for name in ID_ARRAYS} | artifact.strings
    for name, values in named.items():
        text, offsets = encode_strings(np.asarray(values, dtype=object))
        arrays[f"{name}.text"], arrays[f"{name}.offsets"] = text, offsets
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    data = buffer.getvalue()
    manifest = artifact.manifest(hashlib.sha256(data).hexdigest(), len(data))
    return json.dumps(manifest, indent=1).encode(), data


def deserialize(manifest_bytes: bytes, data: bytes) -> ModelArtifact:
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"not a {FORMAT} v{FORMAT_VERSION} manifest: {manifest.get('format')!r}")
    if hashlib.sha256(data).hexdigest() != manifest["data"]["sha256"]:
        raise ArtifactError("model.npz does not match the checksum in manifest.json")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    ids = {name: decode_strings(arrays.pop(f"{name}.text"), arrays.pop(f"{name}.offsets")) for name in ID_ARRAYS}
    strings = {name: decode_strings(arrays.pop(f"{name}.text"), arrays.pop(f"{name}.offsets"))
               for name in manifest.get("strings", [])}
    return ModelArtifact(
        recipe=manifest["recipe"],
        recipe_type=manifest["recipeType"],
        item_ids=ids["item_ids"],
        user_ids=ids["user_ids"],
        arrays=arrays,
        info=manifest.get("info", {}),
        strings=strings,
    )


def save_dir(artifact: ModelArtifact, directory: str | Path) -> None:
    manifest, data = serialize(artifact)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ARRAYS_NAME).write_bytes(data)
    (directory / MANIFEST_NAME).write_bytes(manifest)  # last: a folder without it is unfinished


def load_dir(directory: str | Path) -> ModelArtifact:
    directory = Path(directory)
    if not (directory / MANIFEST_NAME).is_file():
        raise ArtifactError(f"{directory} has no {MANIFEST_NAME}")
    return deserialize((directory / MANIFEST_NAME).read_bytes(), (directory / ARRAYS_NAME).read_bytes())


def _key(prefix: str, name: str) -> str:
    return f"{prefix.strip('/')}/{name}"


def publish_files(s3: Any, bucket: str, prefix: str, manifest: bytes, data: bytes) -> None:
    """Upload data first and the manifest last, so readers never see a half-written model."""
    s3.put_object(Bucket=bucket, Key=_key(prefix, ARRAYS_NAME), Body=data)
    s3.put_object(Bucket=bucket, Key=_key(prefix, MANIFEST_NAME), Body=manifest, ContentType="application/json")


def load_s3(s3: Any, bucket: str, prefix: str) -> ModelArtifact:
    manifest = s3.get_object(Bucket=bucket, Key=_key(prefix, MANIFEST_NAME))["Body"].read()
    data = s3.get_object(Bucket=bucket, Key=_key(prefix, ARRAYS_NAME))["Body"].read()
    return deserialize(manifest, data)
