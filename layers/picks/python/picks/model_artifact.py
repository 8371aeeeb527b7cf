"""The trained-model artifact: plain numpy arrays plus a JSON manifest, nothing else.

Training writes it (``save_dir``) into the SageMaker model directory, which the training job
uploads file by file (uncompressed output); the Register step checks the manifest there
(``parse_manifest``) and the version serves those very files.  The runtime loads them
(``load_s3``) with numpy alone — no pickle, no scipy, no framework.

Layout::

    manifest.json   format, recipe, recipeType, hyperparameters, counts, metrics, array index;
                    ``aliases``: named string arrays equal to ``item_ids`` / ``user_ids``
    model.npz       numeric arrays; ``item_ids`` / ``user_ids`` and the other string arrays as
                    UTF-8 text + character offsets (an alias is not stored again)

Which arrays exist depends on the recipe type (see ``picks.serving.rankers``).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import numpy as np

from picks import npz
from picks.ingest.columnar import decode_strings, encode_strings

if TYPE_CHECKING:
    import mmap

FORMAT = "picks-model"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ARRAYS_NAME = "model.npz"
ID_ARRAYS = ("item_ids", "user_ids")


class ArtifactError(ValueError):
    """The files are not a picks model this code can read."""

    # A workflow failure with a declared code (picks.workflows.failures), whatever the class is called.
    error_code: ClassVar[str] = "MODEL_ARTIFACT_INVALID"


@dataclass
class ModelArtifact:
    recipe: str
    recipe_type: str
    item_ids: np.ndarray  # object array of str; index = the item's row in every item array
    user_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # hyperparameters, counts, metrics, ...
    strings: dict[str, np.ndarray] = field(default_factory=dict)  # other object arrays of str

    def aliases(self) -> dict[str, str]:
        """Named string arrays equal to ``item_ids`` or ``user_ids`` (e.g. ``filter_users``): the
        file stores the ids once and ``manifest.json`` maps the name to them."""
        found: dict[str, str] = {}
        for name, values in self.strings.items():
            for id_name in ID_ARRAYS:
                ids = getattr(self, id_name)
                if len(values) == len(ids) > 0 and (values is ids or values.tolist() == ids.tolist()):
                    found[name] = id_name
                    break
        return found

    def manifest(
        self, data_sha256: str, data_size: int, aliases: dict[str, str] | None = None
    ) -> dict[str, Any]:
        aliases = self.aliases() if aliases is None else aliases
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "recipe": self.recipe,
            "recipeType": self.recipe_type,
            "items": int(len(self.item_ids)),
            "users": int(len(self.user_ids)),
            "arrays": {
                name: {"dtype": str(a.dtype), "shape": list(a.shape)} for name, a in self.arrays.items()
            },
            "strings": sorted(set(self.strings) - set(aliases)),
            "data": {"key": ARRAYS_NAME, "size": data_size, "sha256": data_sha256},
            "info": self.info,
        }
        if aliases:
            manifest["aliases"] = aliases
        return manifest


def _arrays(artifact: ModelArtifact, aliases: dict[str, str]) -> dict[str, np.ndarray]:
    arrays = dict(artifact.arrays)
    named = {name: getattr(artifact, name) for name in ID_ARRAYS}
    named |= {name: values for name, values in artifact.strings.items() if name not in aliases}
    for name, values in named.items():
        text, offsets = encode_strings(np.asarray(values, dtype=object))
        arrays[f"{name}.text"], arrays[f"{name}.offsets"] = text, offsets
    return arrays


def _write(target: BinaryIO, artifact: ModelArtifact) -> bytes:
    """Write model.npz to ``target``; the matching manifest.json."""
    aliases = artifact.aliases()
    with npz.HashingWriter(target) as writer:
        npz.write(writer, _arrays(artifact, aliases))
        digest = writer.hexdigest()
    return json.dumps(artifact.manifest(digest, writer.size, aliases), indent=1).encode()


def serialize(artifact: ModelArtifact) -> tuple[bytes, bytes]:
    """(manifest.json bytes, model.npz bytes)."""
    buffer = io.BytesIO()
    manifest = _write(buffer, artifact)
    return manifest, buffer.getvalue()


def parse_manifest(manifest_bytes: bytes) -> dict[str, Any]:
    """manifest.json checked for what readers rely on: the format, the recipe and the data file."""
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise ArtifactError(f"{MANIFEST_NAME} is not JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{MANIFEST_NAME} is not a JSON object")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"not a {FORMAT} v{FORMAT_VERSION} manifest: {manifest.get('format')!r}")
    missing = [key for key in ("recipe", "recipeType") if not isinstance(manifest.get(key), str)]
    data = manifest.get("data")
    if not (
        isinstance(data, dict) and isinstance(data.get("size"), int) and isinstance(data.get("sha256"), str)
    ):
        missing.append("data (size, sha256)")
    if missing:
        raise ArtifactError(f"{MANIFEST_NAME} lacks {', '.join(missing)}")
    return manifest


def deserialize(manifest_bytes: bytes, data: bytes | mmap.mmap) -> ModelArtifact:
    """The model in ``data`` (model.npz's bytes or mapped file): its arrays are read-only views
    into ``data`` where the file allows (``picks.npz``)."""
    manifest = parse_manifest(manifest_bytes)
    if hashlib.sha256(data).hexdigest() != manifest["data"]["sha256"]:
        raise ArtifactError("model.npz does not match the checksum in manifest.json")
    arrays = npz.read(data)
    ids = {
        name: decode_strings(arrays.pop(f"{name}.text"), arrays.pop(f"{name}.offsets")) for name in ID_ARRAYS
    }
    strings = {
        name: decode_strings(arrays.pop(f"{name}.text"), arrays.pop(f"{name}.offsets"))
        for name in manifest.get("strings", [])
    }
    for name, id_name in (manifest.get("aliases") or {}).items():
        if id_name not in ids:
            raise ArtifactError(
                f"{MANIFEST_NAME}: alias {name!r} names {id_name!r}, not one of {', '.join(ID_ARRAYS)}"
            )
        strings[name] = ids[id_name]
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
    """model.npz straight to disk (hashed on the way), then manifest.json."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ARRAYS_NAME).open("wb") as handle:
        manifest = _write(handle, artifact)
    (directory / MANIFEST_NAME).write_bytes(manifest)  # last: a folder without it is unfinished


def load_dir(directory: str | Path) -> ModelArtifact:
    directory = Path(directory)
    if not (directory / MANIFEST_NAME).is_file():
        raise ArtifactError(f"{directory} has no {MANIFEST_NAME}")
    return deserialize((directory / MANIFEST_NAME).read_bytes(), npz.map_file(directory / ARRAYS_NAME))


def _key(prefix: str, name: str) -> str:
    return f"{prefix.strip('/')}/{name}"


def publish_files(s3: Any, bucket: str, prefix: str, manifest: bytes, data: bytes) -> None:
    """Upload data first and the manifest last, so readers never see a half-written model."""
    s3.put_object(Bucket=bucket, Key=_key(prefix, ARRAYS_NAME), Body=data)
    s3.put_object(
        Bucket=bucket, Key=_key(prefix, MANIFEST_NAME), Body=manifest, ContentType="application/json"
    )


def load_s3(s3: Any, bucket: str, prefix: str) -> ModelArtifact:
    manifest = s3.get_object(Bucket=bucket, Key=_key(prefix, MANIFEST_NAME))["Body"].read()
    data = s3.get_object(Bucket=bucket, Key=_key(prefix, ARRAYS_NAME))["Body"].read()
    return deserialize(manifest, data)
